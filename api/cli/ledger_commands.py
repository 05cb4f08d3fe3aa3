"""Commands over the log itself: init, import, export, restore, show, history, claims."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import click

from ledger import hashing
from ledger.claimreview import ReviewAuthor, reviews_from_log, write_reviews
from ledger.durable import make_directories
from ledger.envelope import NewEvent, RecordedEvent
from ledger.errors import ClaimNotFound, ValidationFailed
from ledger.fold import fold, replay
from ledger.importing import MAX_ERRORS, plan_import, refused_append
from ledger.links import linked_from
from ledger.store import EventStore
from ledger.timeutil import normalize_time

from ..settings import Settings
from .ids import resolve
from .log_commands import init_log
from .store import store_from


def _time(value: str | None, name: str) -> str | None:
    if value is None:
        return None
    try:
        return normalize_time(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=name) from None


@click.command()
@click.pass_obj
def init(settings: Settings) -> None:
    """Create or migrate the store schema, build missing tree nodes, create the signing key."""
    if not settings.data_dir.exists():  # readable by its owner only: keys and the database
        make_directories(settings.data_dir, mode=0o700)  # each new one synced into its parent
        settings.data_dir.chmod(0o700)  # whatever the umask
        click.echo(f"created the data directory {settings.data_dir}")
    store = store_from(settings)
    store.init()
    init_log(settings, store)
    click.echo(f"ledger ready at {_safe_url(settings.database_url)} (head {store.head()})")


@click.command("import")
@click.argument("file", type=click.File("rb"))
@click.option("--if-empty", is_flag=True, help="import only into an empty ledger")
@click.option("--phases", is_flag=True,
              help="a blank line in FILE ends a phase: every line is checked first, then each"
              " phase is appended in a transaction of its own, so its events share a"
              " recorded_at (as_of tells the phases apart)")
@click.option("--dry-run", is_flag=True,
              help="check every line and list likely duplicates (claims close to ones in the"
              " ledger or elsewhere in the file), writing nothing")
@click.pass_obj
def import_(settings: Settings, file: IO[bytes], if_empty: bool, phases: bool = False,
            dry_run: bool = False) -> None:
    """Append an NDJSON file in the /v1/imports line format, all or nothing (with --phases,
    checked all or nothing, then appended phase by phase; with --dry-run, only checked)."""
    store = store_from(settings)
    if if_empty and store.head() != 0:
        click.echo("the ledger already holds events: nothing imported")
        return
    blanks: list[int] = []
    try:
        plan = plan_import(_ndjson_lines(file, blanks), scales=store.scales,
                           metadata={"source": "cli-import"})
    except ValidationFailed as exc:
        raise click.ClickException(_every_error(exc)) from None
    if dry_run:
        from .duplicates import echo_dry_run

        echo_dry_run(settings.database_url, plan.events)
        return
    groups = _phases(plan.events, blanks) if phases else [plan.events]
    events: list[RecordedEvent] = []
    for group in groups:
        try:
            if len(groups) > 1 and not events:  # no phase may find a claim missing
                _refuse_missing_claims(store, plan.events)
            events += store.append(group, actor=settings.actor)
        except (ClaimNotFound, ValidationFailed) as exc:  # the same paths as the API's 422
            refusal = refused_append(exc, plan.events if isinstance(exc, ClaimNotFound) else group)
            written = (f"\n  (the phases before this one were appended: positions"
                       f" {events[0].position}-{events[-1].position})" if events else "")
            raise click.ClickException(_every_error(refusal) + written) from None
    click.echo(
        f"imported {len(events)} events into {len({e.claim_id for e in events})}"
        f" claims (positions {events[0].position}-{events[-1].position})"
        + (f" in {len(groups)} phase{'s' if len(groups) != 1 else ''}" if phases else "")
    )


def _refuse_missing_claims(store: EventStore, events: list[NewEvent]) -> None:
    """Raise ``ClaimNotFound`` for the first claim a line names by claim_id that the ledger
    does not hold (before any phase is appended; one append checks this itself)."""
    created = {e.claim_id for e in events if e.type == "ClaimRecorded"}
    for claim_id in dict.fromkeys(e.claim_id for e in events if e.claim_id not in created):
        if store.claim_version(claim_id) == 0:
            raise ClaimNotFound(claim_id)


def _phases(events: list[NewEvent], blanks: list[int]) -> list[list[NewEvent]]:
    """``events`` cut where a blank line (``blanks``: their line numbers) separates them."""
    groups: list[list[NewEvent]] = []
    remaining = iter(blanks)  # in line order, as the lines are
    blank = next(remaining, None)
    for event in events:
        line = int(event.metadata["import_line"])
        cut = False
        while blank is not None and blank < line:
            cut, blank = True, next(remaining, None)
        if cut or not groups:
            groups.append([])
        groups[-1].append(event)
    return groups


def _ndjson_lines(file: IO[bytes], blanks: list[int]) -> Iterator[bytes]:
    """The file's lines, refusing at once a file that is one JSON array (or starts one);
    the numbers of its blank lines go to ``blanks``."""
    first = True
    for number, line in enumerate(file, start=1):
        if not line.strip():
            blanks.append(number)
        elif first:
            first = False
            if line.lstrip().startswith(b"["):
                raise click.ClickException(
                    "this file is a JSON array; import takes NDJSON: one JSON object per line,"
                    " no enclosing [ ] and no commas between lines (convert it with"
                    " jq -c '.[]' FILE > FILE.ndjson)"
                )
        yield line


def _every_error(exc: ValidationFailed) -> str:
    """Every error of a refused import, one per line, by line number (at most MAX_ERRORS:
    the check stops there)."""
    errors = exc.errors
    stopped = f", the check stops after {MAX_ERRORS}" if len(errors) >= MAX_ERRORS else ""
    lines = [f"{exc} ({len(errors)} error{'s' if len(errors) != 1 else ''}{stopped}):"]
    for path, messages in errors.items():
        where = path
        parts = path.split(".", 2)
        if len(parts) >= 2 and parts[0] == "lines" and parts[1].isdigit():
            where = f"line {parts[1]}" + (f", {parts[2]}" if len(parts) == 3 else "")
        text = "; ".join(map(str, messages if isinstance(messages, list) else [messages]))
        lines.append(f"  {_printable(where)}: {_printable(text)}")
    return "\n".join(lines)


def _printable(text: str) -> str:
    """``text`` with control characters (a key or value from the file) escaped, so one error
    stays one line and cannot move the terminal's cursor."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


@click.command()
@click.option(
    "--out", type=click.Path(dir_okay=False, writable=True), help="write here, not stdout"
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["log", "claimreview", "claimreview-ndjson"]),
    default="log",
    show_default=True,
    help="log: every envelope; claimreview: every rated claim as schema.org ClaimReview"
    " (a JSON array; claimreview-ndjson: one per line)",
)
@click.pass_obj
def export(settings: Settings, out: str | None, fmt: str = "log") -> None:
    """Write the log as NDJSON envelopes in position order (or rated claims as ClaimReview)."""
    store = store_from(settings)
    target: IO[bytes] = open(out, "wb") if out else sys.stdout.buffer  # noqa: SIM115
    try:
        if fmt != "log":
            author = ReviewAuthor(settings.review_author, settings.review_author_url)
            reviews = reviews_from_log(
                store.iter_all(), author=author, base_url=settings.public_url, scales=store.scales
            )
            write_reviews(reviews, target, ndjson=fmt == "claimreview-ndjson")
            return
        for event in store.iter_all():
            target.write(hashing.canonical_json(event.to_json()) + b"\n")
    finally:
        if out:
            target.close()
        else:
            target.flush()


def _read_export(path: Path) -> Iterator[RecordedEvent]:
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                yield RecordedEvent.from_json(json.loads(line))
            except (ValueError, KeyError, TypeError) as exc:
                raise ValidationFailed(
                    f"{path}: line {number} is not an exported event ({exc})"
                ) from None


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_obj
def restore(settings: Settings, file: Path) -> None:
    """Load an export into an empty store verbatim, re-verifying every hash."""
    store = store_from(settings)
    store.init()
    count = store.restore(_read_export(file))
    click.echo(f"restored {count} events; every payload, leaf and chain link verified")


@click.command()
@click.argument("claim_id")
@click.option("--as-of", help="what the ledger said at this time (RFC 3339)")
@click.option("--valid-at", help="what had happened in the world by this time (RFC 3339)")
@click.option("--json", "as_json", is_flag=True, help="print the state as JSON")
@click.pass_obj
def show(
    settings: Settings, claim_id: str, as_of: str | None, valid_at: str | None, as_json: bool
) -> None:
    """Show a claim's current (or replayed) state; CLAIM_ID may be an unambiguous prefix."""
    store = store_from(settings)
    claim_id = resolve(store, claim_id)
    as_of, valid_at = _time(as_of, "--as-of"), _time(valid_at, "--valid-at")
    events = store.read_claim(claim_id, as_of=as_of)
    state = replay(events, valid_at=valid_at, scales=store.scales)
    if state is None:
        raise ClaimNotFound(claim_id)
    inbound = linked_from(store, claim_id, as_of=as_of, valid_at=valid_at)
    if inbound:  # as GET /v1/claims/{id} answers it
        state["linked_from"] = inbound
    if as_json:
        click.echo(json.dumps(state, indent=2, ensure_ascii=False))
        return
    verdict = state["verdict"]
    click.echo(f"{state['id']}  [{state['status']}]  version {state['version']}")
    click.echo(f"  “{state['statement']}”")
    click.echo(f"  claimant: {(state['claimant'] or {}).get('name')}")
    click.echo(f"  verdict: {verdict['label'] + ' (' + verdict['scale'] + ')' if verdict else '—'}")
    counts = state["counts"]
    click.echo(
        f"  appearances {counts['appearances']}, corroborations {counts['corroborations']},"
        f" denials {counts['denials']}"
    )
    for entry in state["denials"]:
        click.echo(f"  denied by {entry['by']['name']} ({entry['occurred_at']})")
    for entry in state["corroborations"]:
        click.echo(f"  corroborated by {entry['by']['name']} ({entry['occurred_at']})")
    for link in state["links"]:
        click.echo(f"  {link['kind']} claim {link['target_claim_id']}")
    for link in inbound:
        click.echo(f"  claim {link['claim_id']} {link['kind']} this one")


@click.command()
@click.argument("claim_id")
@click.option("--json", "as_json", is_flag=True, help="print the envelopes as JSON")
@click.pass_obj
def history(settings: Settings, claim_id: str, as_json: bool) -> None:
    """Show a claim's events in version order; CLAIM_ID may be an unambiguous prefix."""
    store = store_from(settings)
    claim_id = resolve(store, claim_id)
    events = store.read_claim(claim_id)
    if not events:
        raise ClaimNotFound(claim_id)
    if as_json:
        click.echo(json.dumps([e.to_json() for e in events], indent=2, ensure_ascii=False))
        return
    voided = set((fold(events, store.scales) or {}).get("voided_event_ids", []))
    for e in events:
        mark = "  (voided)" if e.id in voided else ""
        click.echo(
            f"v{e.version:<3} #{e.position:<6} {e.occurred_at}  {e.type:<18} by {e.actor}"
            f"  leaf {e.leaf_hash[:16]}…{mark}"
        )


@click.command()
@click.option("--all", "show_all", is_flag=True, help="include voided claims")
@click.pass_obj
def claims(settings: Settings, show_all: bool) -> None:
    """Summarise every claim, folded from the log."""
    store = store_from(settings)
    streams: dict[str, list[RecordedEvent]] = {}
    for event in store.iter_all():
        streams.setdefault(event.claim_id, []).append(event)
    for claim_id, events in streams.items():
        state = fold(events, store.scales)
        if state is None or (state["status"] == "voided" and not show_all):
            continue
        verdict = state["verdict"]["label"] if state["verdict"] else "no verdict"
        statement = state["statement"] or ""
        short = statement if len(statement) <= 70 else statement[:69] + "…"
        click.echo(f"{claim_id}  {state['status']:<12} {verdict:<13} {short}")
    click.echo(f"{len(streams)} claims, {store.head()} events")


def _safe_url(url: str) -> str:
    """A database URL with any password masked."""
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in creds else url


def register(group: click.Group) -> None:
    """Add these commands to the CLI group."""
    for command in (init, import_, export, restore, show, history, claims):
        group.add_command(command)
