"""The generated pages of the documentation site: curated type references and filters.

``python -m stackdeploy.reference.site [DOCS_DIR]`` (re)writes them; a test checks the
committed pages equal what this module generates, so they never drift from the schemas or
from the registered template filters.

- ``docs/reference/types/``: the reference pages of :data:`CURATED_TYPES` and an index;
- ``docs/reference/filters.md``: every filter and function templates can use
  (:mod:`stackdeploy.reference.filters`).
"""

from __future__ import annotations

import sys
from pathlib import Path

from stackdeploy.reference import write_pages
from stackdeploy.reference.filters import filters_page

# Common types a stack author reaches for first.
CURATED_TYPES: tuple[str, ...] = (
    "AWS::S3::Bucket",
    "AWS::SQS::Queue",
    "AWS::SNS::Topic",
    "AWS::IAM::Role",
    "AWS::KMS::Key",
    "AWS::Logs::LogGroup",
    "AWS::Lambda::Function",
    "AWS::DynamoDB::Table",
    "AWS::EC2::VPC",
    "AWS::EC2::Subnet",
    "AWS::EC2::SecurityGroup",
    "AWS::EC2::InternetGateway",
    "AWS::EC2::VPCGatewayAttachment",
    "AWS::EC2::RouteTable",
    "AWS::EC2::Route",
    "AWS::EC2::SubnetRouteTableAssociation",
    "AWS::SageMaker::Cluster",
)

TYPES_DIR = Path("reference") / "types"
FILTERS_PAGE = Path("reference") / "filters.md"
TYPES_INDEX_TITLE = "Resource type reference"
TYPES_INDEX_INTRO = (
    "Reference pages of common resource types. Every one of the registry's types has such a "
    "page: `stack-deploy describe TYPE --format markdown` prints it (`TYPE` as "
    "`AWS::S3::Bucket` or `awscc.s3.buckets`), and `stack-deploy describe --all --out DIR` "
    "writes them all. Their SQL examples and manifest snippets run as written once the "
    "`<placeholders>` are filled in; the [tutorial](../../tutorial.md) shows how a stack is "
    "built from them."
)


def generated_files(docs_dir: Path) -> dict[Path, str]:
    """Every generated page (path under ``docs_dir`` -> content), without writing."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        paths = write_pages(
            tmp, CURATED_TYPES, index_title=TYPES_INDEX_TITLE, index_intro=TYPES_INDEX_INTRO
        )
        pages = {
            docs_dir / TYPES_DIR / p.relative_to(tmp): p.read_text(encoding="utf-8") for p in paths
        }
    pages[docs_dir / FILTERS_PAGE] = filters_page()
    return pages


def write_site(docs_dir: Path) -> list[Path]:
    """Write the generated pages under ``docs_dir``; returns the paths that changed."""
    changed = []
    for path, text in generated_files(docs_dir).items():
        if path.exists() and path.read_text(encoding="utf-8") == text:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        changed.append(path)
    return changed


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    docs_dir = Path(args[0]) if args else Path("docs")
    changed = write_site(docs_dir)
    for path in changed:
        print(f"wrote {path}")
    if not changed:
        print("generated pages are up to date")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
