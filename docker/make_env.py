"""Write .env from .env.example with every ``change-me`` replaced by a fresh random secret.

    python3 docker/make_env.py [--example .env.example] [--output .env] [--force]

Standard library only, so it runs before any environment exists. Refuses to overwrite an
existing .env unless --force is given: replacing secrets of a running deployment locks its
services out of their own databases (see README, Production, "Rotate passwords").
"""

from __future__ import annotations

import argparse
import base64
import os
import secrets
import sys
import tempfile
from pathlib import Path

PLACEHOLDER = "change-me"
# Secrets that go inside connection URLs: hex, so nothing needs escaping.
URL_SECRETS = {"POSTGRES_PASSWORD", "AIRFLOW_DB_PASSWORD", "MINDPULSE_DB_PASSWORD", "REDIS_PASSWORD"}


def secret_for(name: str) -> str:
    """A fresh value for the variable ``name``, in the form its consumer accepts."""
    if name == "AIRFLOW_FERNET_KEY":
        return base64.urlsafe_b64encode(os.urandom(32)).decode()
    if name in URL_SECRETS:
        return secrets.token_hex(24)
    return secrets.token_urlsafe(24)


def fill(example: str) -> tuple[str, list[str]]:
    """The example's text with each ``NAME=change-me`` line given a secret, and the names filled."""
    lines, filled = [], []
    for line in example.splitlines():
        name, sep, value = line.partition("=")
        if sep and not line.lstrip().startswith("#") and value.strip() == PLACEHOLDER:
            line = f"{name}={secret_for(name.strip())}"
            filled.append(name.strip())
        lines.append(line)
    return "\n".join(lines) + "\n", filled


def main(argv: list[str] | None = None) -> int:
    root = Path(__file__).resolve().parents[1]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--example", type=Path, default=root / ".env.example", help="template (default: .env.example)")
    parser.add_argument("--output", type=Path, default=root / ".env", help="file to write (default: .env)")
    parser.add_argument("--force", action="store_true", help="overwrite an existing output file")
    args = parser.parse_args(argv)

    if args.output.exists() and not args.force:
        print(f"make_env: {args.output} exists; not overwritten (its secrets may be in use). Use --force to replace it.", file=sys.stderr)
        return 1
    text, filled = fill(args.example.read_text())
    # Written whole or not at all, readable by its owner only.
    fd, tmp = tempfile.mkstemp(dir=args.output.parent, prefix=".env.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.chmod(tmp, 0o600)
        os.replace(tmp, args.output)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    print(f"make_env: wrote {args.output} with {len(filled)} new secrets ({', '.join(filled)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
