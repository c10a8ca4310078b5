"""`python -m rally_sandbox <command>`: migrate, seed, serve, run, manage and more."""

from __future__ import annotations

import argparse
import os
import sys


def _setup() -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "rally_sandbox.settings"
    import django

    django.setup()


def _migrate() -> None:
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def _seed() -> None:
    from rally_sandbox.seed import run_seed

    run_seed()


def _required_fields(args: argparse.Namespace) -> int:
    from rally_sandbox.wsapi.required_fields import (
        RuleError,
        add_rule,
        find_workspace,
        list_rules,
        remove_rule,
    )

    try:
        if args.action == "list":
            workspace = find_workspace(args.workspace) if args.workspace else None
            rules = list_rules(workspace=workspace)
            for rule in rules:
                print(f"{rule.workspace}\t{rule.type_path}\t{rule.element_name}")
            if not rules:
                print("No required-field rules: only what Rally always requires.")
            return 0
        if not (args.type and args.field):
            print(f"required-fields {args.action} needs <Type> <Field>.", file=sys.stderr)
            return 2
        workspace = find_workspace(args.workspace)
        if args.action == "add":
            rule, created = add_rule(
                workspace=workspace, type_name=args.type, field_name=args.field
            )
            verb = "now requires" if created else "already requires"
        else:
            rule = remove_rule(workspace=workspace, type_name=args.type, field_name=args.field)
            verb = "no longer requires"
    except RuleError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"Workspace {rule.workspace} {verb} {rule.type_path}.{rule.element_name}.")
    return 0


def _admin_api_line() -> str:
    from django.conf import settings

    if not settings.RALLY_SANDBOX_ADMIN_KEY:
        return "  admin API:    off (set RALLY_SANDBOX_ADMIN_KEY to switch it on)"
    if settings.RALLY_SANDBOX_ADMIN_KEY == settings.DEV_ADMIN_KEY:
        return f"  admin API:    X-Sandbox-Admin-Key: {settings.DEV_ADMIN_KEY}  (development)"
    return "  admin API:    X-Sandbox-Admin-Key: the key in RALLY_SANDBOX_ADMIN_KEY"


def _print_banner(*, url: str) -> None:
    from rally_sandbox.seed import DEMO_API_KEY, DEMO_USERS

    # Demo data only: the key and passwords are documented in docs/rally-sandbox.md.
    lines = [
        f"Rally sandbox: {url}",
        f"  WSAPI:        {url}/slm/webservice/v2.0",
        f"  web UI:       {url}/sandbox/  (play the development team)",
        f"  demo API key: {DEMO_API_KEY}  (send it as the ZSESSIONID header)",
        "  demo logins:",
    ]
    lines += [f"    {user.username} / {user.password}" for user in DEMO_USERS]
    lines.append(_admin_api_line())
    print("\n".join(lines), flush=True)


def _add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--threads", type=int, default=16)
    add_tls_arguments = _optional_tls_arguments()
    if add_tls_arguments is not None:
        add_tls_arguments(parser)


def _optional_tls_arguments():
    # TLS options live with the TLS code when it exists (rally_sandbox.tls).
    try:
        from rally_sandbox.tls import add_serve_arguments
    except ImportError:
        return None
    return add_serve_arguments


def _serve(args: argparse.Namespace, *, banner: bool) -> None:
    from rally_sandbox.server import serve

    extra: dict = {}
    scheme = "http"
    try:
        from rally_sandbox.tls import gunicorn_tls_options
    except ImportError:
        gunicorn_tls_options = None
    if gunicorn_tls_options is not None:
        extra = gunicorn_tls_options(args)
        if extra.get("certfile"):
            scheme = "https"
    if banner:
        _print_banner(url=f"{scheme}://{args.host}:{args.port}")
    serve(host=args.host, port=args.port, threads=args.threads, **extra)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["manage"]:
        _setup()
        from django.core.management import execute_from_command_line

        execute_from_command_line(["rally_sandbox manage", *argv[1:]])
        return 0
    parser = argparse.ArgumentParser(prog="python -m rally_sandbox")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="create or update the sandbox database")
    commands.add_parser("seed", help="add the demo subscription, users and data (idempotent)")
    _add_serve_arguments(commands.add_parser("serve", help="serve the Rally WSAPI"))
    _add_serve_arguments(commands.add_parser("run", help="migrate, seed and serve"))
    commands.add_parser("manage", help="run a Django management command with sandbox settings")
    rules = commands.add_parser(
        "required-fields", help="list, add or remove a workspace's required-field rules"
    )
    rules.add_argument("action", choices=["list", "add", "remove"])
    rules.add_argument("type", nargs="?", help="e.g. Defect or PortfolioItem/Feature")
    rules.add_argument("field", nargs="?", help="the attribute's ElementName, e.g. Severity")
    rules.add_argument("--workspace", help="the workspace's name (needed when there are several)")
    # TLS files (rally_sandbox/tls.py): needs no database, so no Django setup.
    certs = commands.add_parser("certs", help="create the TLS certificates and print their paths")
    certs.add_argument("--tls-dir", default=None, help="where the certificates live")
    args = parser.parse_args(argv)
    if args.command == "certs":
        from pathlib import Path

        from rally_sandbox.tls import print_locations

        print_locations(Path(args.tls_dir) if args.tls_dir else None)
        return 0
    _setup()
    if args.command == "required-fields":
        return _required_fields(args)
    if args.command == "migrate":
        _migrate()
    elif args.command == "seed":
        _seed()
    elif args.command == "serve":
        _serve(args, banner=False)
    elif args.command == "run":
        _migrate()
        _seed()
        _serve(args, banner=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
