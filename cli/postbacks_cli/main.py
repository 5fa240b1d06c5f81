"""The `postbacks` command line (design §8). Flags win over POSTBACKS_* variables over defaults."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from pydantic import AliasChoices, ValidationError
from pydantic_settings import BaseSettings

from postbacks_cli.connections import require_explicit_connections
from postbacks_cli.lifecycle import configure_logging, run_until_signalled

app = typer.Typer(
    help="Postbacks: server-to-server postbacks from Kafka, logged in ClickHouse.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)

S = TypeVar("S", bound=BaseSettings)

ApiPort = Annotated[int | None, typer.Option(help="query-api port [POSTBACKS_API_PORT]")]
KafkaPort = Annotated[int | None, typer.Option(help="embedded broker port [POSTBACKS_KAFKA_PORT]")]
Bootstrap = Annotated[str | None, typer.Option(help="use this Kafka [POSTBACKS_KAFKA_BOOTSTRAP]")]
DataDir = Annotated[Path | None, typer.Option(help="local state [POSTBACKS_DATA_DIR]")]
Embedded = Annotated[
    bool | None,
    typer.Option(
        "--embedded",
        help="without POSTBACKS_KAFKA_BOOTSTRAP or CLICKHOUSE_URL, use the embedded defaults "
        "(a trial, with a warning) instead of refusing to start [POSTBACKS_EMBEDDED]",
        show_default=False,
    ),
]
AllowedNetworks = Annotated[
    str | None,
    typer.Option(
        help="CIDRs postbacks may reach although private or loopback, comma-separated, or "
        "none [POSTBACKS_ALLOWED_NETWORKS] (dev: loopback; otherwise: none)"
    ),
]


def load(settings_class: type[S], **flags: Any) -> S:
    """Settings from flags (those given), the environment and defaults; exits naming a bad one."""
    try:
        return settings_class(**{k: v for k, v in flags.items() if v is not None})
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            name = ".".join(str(p) for p in error["loc"])
            variable = _variable(settings_class, name)
            typer.echo(f"invalid setting {name} ({variable}): {error['msg']}", err=True)
        raise typer.Exit(2) from exc


def _variable(settings_class: type[BaseSettings], name: str) -> str:
    """The environment variable that set `name` (a field, or one of its aliases): of a field's
    names, the one the environment has, else the first."""
    prefix = str(settings_class.model_config.get("env_prefix", ""))
    for field, info in settings_class.model_fields.items():
        alias = info.validation_alias
        names = (
            [str(choice) for choice in alias.choices]
            if isinstance(alias, AliasChoices)
            else [alias]
            if isinstance(alias, str)
            else [prefix + field]
        )
        if name == field or name.upper() in (n.upper() for n in names):
            given = {key.upper() for key in os.environ}
            return next((n for n in names if n.upper() in given), names[0]).upper()
    return (prefix + name).upper()


@app.command()
def dev(
    api_port: ApiPort = None,
    kafka_port: KafkaPort = None,
    kafka_bootstrap: Bootstrap = None,
    data_dir: DataDir = None,
    allowed_networks: AllowedNetworks = None,
) -> None:
    """Everything on the embedded defaults: broker, dispatcher, log-writer, query-api."""
    from postbacks_cli.dev import DevSettings, run_dev

    configure_logging()
    settings = load(
        DevSettings,
        api_port=api_port,
        kafka_port=kafka_port,
        kafka_bootstrap=kafka_bootstrap,
        data_dir=data_dir,
        allowed_networks=allowed_networks,
    )
    run_until_signalled(run_dev(settings), "postbacks dev")


@app.command()
def broker(kafka_port: KafkaPort = None) -> None:
    """The embedded Kafka broker (Tansu, memory only) alone, with the topics created."""
    from postbacks.embedded_broker import EmbeddedBroker
    from postbacks.kafka_admin import ensure_topics
    from postbacks.settings import CommonSettings

    configure_logging()
    settings = load(CommonSettings, kafka_port=kafka_port)

    async def serve() -> None:
        with EmbeddedBroker(settings.kafka_port) as running:
            await ensure_topics(running.kafka)
            typer.echo(f"embedded Kafka on {running.bootstrap} (memory only); Ctrl-C stops it")
            await asyncio.Event().wait()

    run_until_signalled(serve(), "embedded broker")


@app.command()
def dispatcher(
    kafka_bootstrap: Bootstrap = None,
    allowed_networks: AllowedNetworks = None,
    embedded: Embedded = None,
) -> None:
    """The dispatcher alone: consumes inputs, fires postbacks, publishes attempts."""
    from dispatcher.service import run_dispatcher
    from dispatcher.settings import DispatcherSettings

    configure_logging()
    settings = load(
        DispatcherSettings,
        kafka_bootstrap=kafka_bootstrap,
        allowed_networks=allowed_networks,
        embedded=embedded,
    )
    require_explicit_connections(settings, store=False)
    run_until_signalled(run_dispatcher(settings), "dispatcher")


@app.command("log-writer")
def log_writer(
    kafka_bootstrap: Bootstrap = None, data_dir: DataDir = None, embedded: Embedded = None
) -> None:
    """The log-writer alone: batches attempts into ClickHouse."""
    from log_writer.service import run_log_writer
    from log_writer.settings import LogWriterSettings
    from postbacks.store.opening import open_store

    configure_logging()
    settings = load(
        LogWriterSettings, kafka_bootstrap=kafka_bootstrap, data_dir=data_dir, embedded=embedded
    )
    require_explicit_connections(settings, store=True)
    run_until_signalled(run_log_writer(settings, open_store(settings)), "log-writer")


@app.command("query-api")
def query_api(
    api_port: ApiPort = None,
    kafka_bootstrap: Bootstrap = None,
    data_dir: DataDir = None,
    embedded: Embedded = None,
) -> None:
    """The query-api alone: logs, configurations, pages. Needs POSTBACKS_API_TOKENS."""
    from postbacks.store.opening import open_store
    from query_api.service import run_query_api
    from query_api.settings import QueryApiSettings

    configure_logging()
    settings = load(
        QueryApiSettings,
        api_port=api_port,
        kafka_bootstrap=kafka_bootstrap,
        data_dir=data_dir,
        embedded=embedded,
    )
    if settings.api_tokens is None:
        # Only `postbacks dev` serves the API open; in production that is never what was meant.
        typer.echo(
            "refusing to start: POSTBACKS_API_TOKENS is not set, and the query-api does not run "
            "open outside `postbacks dev`; set it to a JSON object token -> scopes, e.g. "
            """POSTBACKS_API_TOKENS='{"<token>": ["logs:read", "postbacks:write"]}' """
            "(scopes: logs:read, postbacks:write)",
            err=True,
        )
        raise typer.Exit(2)
    require_explicit_connections(settings, store=True)
    run_until_signalled(run_query_api(settings, open_store(settings)), "query-api")


@app.command()
def migrate() -> None:
    """Apply the ClickHouse schema and record its version, once per release, with an account
    that may change the schema; the log-writer and query-api refuse an older one."""
    from log_writer.settings import LogWriterSettings
    from postbacks_cli.migrate import NO_SERVER, run_migrate

    configure_logging()
    settings = load(LogWriterSettings)
    if not settings.clickhouse_url:
        typer.echo(NO_SERVER, err=True)
        raise typer.Exit(2)
    run_until_signalled(run_migrate(settings, typer.echo), "postbacks migrate")


@app.command()
def send(
    topic: Annotated[str, typer.Argument(help="clicks, conversions or events")] = "conversions",
    offer_id: Annotated[int, typer.Option(help="offer")] = 1,
    publisher_id: Annotated[int, typer.Option(help="publisher")] = 1,
    count: Annotated[int, typer.Option(min=1, max=1_000_000)] = 1,
    payout: Annotated[str | None, typer.Option()] = "1.00",
    status: Annotated[str, typer.Option(help="approved, pending or rejected")] = "approved",
    event_id: Annotated[str | None, typer.Option(help="required for events")] = None,
    json_value: Annotated[
        str | None, typer.Option("--json", help="send this exact value instead")
    ] = None,
    kafka_bootstrap: Bootstrap = None,
    kafka_port: KafkaPort = None,
) -> None:
    """Produce test input: `postbacks send conversions --publisher-id 42 --count 10`."""
    from postbacks.settings import CommonSettings
    from postbacks_cli.sending import send_inputs

    settings = load(CommonSettings, kafka_bootstrap=kafka_bootstrap, kafka_port=kafka_port)
    sent = asyncio.run(
        send_inputs(
            settings.kafka,
            topic,
            count=count,
            json_value=json_value,
            fields={
                "offer_id": offer_id,
                "publisher_id": publisher_id,
                "payout": payout,
                "status": status,
                "event_id": event_id,
            },
        )
    )
    for transaction_id in sent:
        typer.echo(f"sent {topic} transaction_id={transaction_id}")


@app.command()
def token(
    scope: Annotated[
        list[str] | None,
        typer.Option(help="logs:read or postbacks:write (repeat for both); default logs:read"),
    ] = None,
    publisher_id: Annotated[
        list[int] | None,
        typer.Option(min=0, help="confine the token to this publisher (repeat for several)"),
    ] = None,
    offer_id: Annotated[
        list[int] | None, typer.Option(min=0, help="confine the token to this offer too")
    ] = None,
) -> None:
    """Make a new random API token and print the entry to add to POSTBACKS_API_TOKENS:
    `postbacks token --scope logs:read --scope postbacks:write --publisher-id 42`."""
    from postbacks_cli.token import new_entry

    try:
        made, entry = new_entry(scope or ["logs:read"], publisher_id or [], offer_id or [])
    except ValueError as exc:
        typer.echo(f"cannot make this token: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"token: {made}")
    typer.echo("add this entry to the JSON object in POSTBACKS_API_TOKENS, then restart:")
    typer.echo(entry)


ApiUrl = Annotated[
    str | None, typer.Option(help="query-api URL (http://127.0.0.1:POSTBACKS_API_PORT)")
]
ApiToken = Annotated[
    str | None,
    typer.Option(
        envvar="POSTBACKS_API_TOKEN",
        show_default=False,
        help="token with the postbacks:write scope (the variable is safer: ps shows flags)",
    ),
]


@app.command()
def apply(
    file: Annotated[
        Path,
        typer.Option(
            "--file", "-f", exists=True, dir_okay=False, help="YAML with a `postbacks:` list"
        ),
    ],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="print the differences, change nothing")
    ] = False,
    prune: Annotated[
        bool, typer.Option("--prune", help="delete configurations not in the file")
    ] = False,
    api: ApiUrl = None,
    token: ApiToken = None,
) -> None:
    """Create or update configurations by name from a file: `postbacks apply -f postbacks.yaml`."""
    from postbacks_cli.apply import ApiFailed, apply_to
    from postbacks_cli.config_file import InvalidFile
    from query_api.settings import QueryApiSettings

    url = api or f"http://127.0.0.1:{load(QueryApiSettings).api_port}"
    if not url.startswith(("http://", "https://")):
        raise typer.BadParameter(
            "use an http:// URL, e.g. http://127.0.0.1:8080", param_hint="--api"
        )
    try:
        asyncio.run(apply_to(url, file, dry_run=dry_run, prune=prune, echo=typer.echo, token=token))
    except (InvalidFile, ApiFailed) as exc:
        for problem in exc.problems:
            typer.echo(problem, err=True)
        raise typer.Exit(1) from None


Values = Annotated[list[str] | None, typer.Option(show_default=False)]


@app.command()
def refire(
    status: Annotated[list[str] | None, typer.Option(help="Success or Failed")] = None,
    publisher_id: Values = None,
    offer_id: Values = None,
    postback_name: Values = None,
    transaction_id: Values = None,
    response_code: Values = None,
    filter: Annotated[
        list[str] | None,
        typer.Option(
            "--filter",
            help="any log filter, COLUMN=V, COLUMN__is_not=V or COLUMN__contains=V (repeatable)",
        ),
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="from this long ago (2h, 30m, 7d) or this time (RFC 3339)")
    ] = None,
    until: Annotated[str | None, typer.Option(help="up to this long ago or this time")] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="do not ask for confirmation")] = False,
    api: ApiUrl = None,
    token: ApiToken = None,
) -> None:
    """Re-fire the failures a filter selects, once per (transaction, postback), with a progress
    bar: `postbacks refire --status Failed --publisher-id 42 --since 2h`."""
    import httpx
    from rich.console import Console

    from postbacks_cli.refire import RefireFailed, run_refire, selection
    from query_api.settings import QueryApiSettings

    url = api or f"http://127.0.0.1:{load(QueryApiSettings).api_port}"
    named = {
        "status": status, "publisher_id": publisher_id, "offer_id": offer_id,
        "postback_name": postback_name, "transaction_id": transaction_id,
        "response_code": response_code,
    }  # fmt: skip
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        query = selection({k: v for k, v in named.items() if v}, filter or [], since, until)
        with httpx.Client(base_url=url, headers=headers, timeout=30, trust_env=False) as client:
            outcome = run_refire(
                client, query, confirm=lambda q: yes or typer.confirm(q), console=Console()
            )
    except RefireFailed as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    if outcome is not None and not outcome.ok:
        raise typer.Exit(1)
