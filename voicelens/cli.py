"""The ``voicelens`` command line.

Every command is a frozen pydantic-settings model (flags and ``VOICELENS_*`` env vars from one
definition, validated at start-up) with a ``cli_cmd`` method, registered in
:mod:`voicelens.commands`; this module runs them and turns errors into a one-line message and an
exit code.

It imports nothing heavy itself, the command tree only inside :func:`main`: ``produce``'s worker
processes start by running the console script again (Python 3.11's fork server re-runs the main
script in each worker), and that re-run imports this module without calling ``main``.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, get_args

from voicelens import __version__
from voicelens.exceptions import VoicelensError

if TYPE_CHECKING:
    from pydantic import BaseModel, ValidationError
    from pydantic_settings import SettingsError

__all__ = ["main"]

log = logging.getLogger("voicelens")


_SOURCE_ERROR = re.compile(r'(?:field "|encountered for )(?:\w+\.)?(\w+)')


def _subcommand(model: type[BaseModel], name: object) -> type[BaseModel] | None:
    """The model of ``model``'s subcommand ``name`` (a ``CliSubCommand[X]`` field, typed
    ``X | None``); None where ``name`` is a setting."""
    from pydantic import BaseModel

    field = model.model_fields.get(name) if isinstance(name, str) else None
    if field is None:
        return None
    for arg in get_args(field.annotation):
        # A command is a settings model with a cli_cmd (voicelens.commands); a nested model
        # that is only a setting has none.
        if isinstance(arg, type) and issubclass(arg, BaseModel) and hasattr(arg, "cli_cmd"):
            return arg
    return None


def _describe(error: ValidationError) -> str:
    """One line per problem, naming the setting's flag and variable (never its value)."""
    from pydantic_settings import SettingsError

    from voicelens.commands import VoicelensCli
    from voicelens.settings import setting_label

    lines = []
    for item in error.errors():
        path = list(item["loc"])
        # The subcommands (`schemas check`: two) lead the path; the setting follows them.
        model: type[BaseModel] = VoicelensCli
        while path and (sub := _subcommand(model, path[0])) is not None:
            model, path = sub, path[1:]
        cause = (item.get("ctx") or {}).get("error")
        if not path and isinstance(cause, SettingsError):
            # A source (the environment, say) could not parse a value before validation.
            lines.append(_describe_source_error(cause))
            continue
        label = setting_label(str(path[0])) if path else "?"
        where = "".join(
            f", item {part}" if isinstance(part, int) else f", key {part!r}" for part in path[1:]
        )
        lines.append(f"invalid setting {label}{where}: {item['msg'].removeprefix('Value error, ')}")
    return "\n".join(lines)


#: Secrets that must not be flags: a command line is visible to every user of the host (``ps``,
#: /proc) and lands in shell histories. Each names the safer channels.
SECRET_FLAGS = {
    "--signing-secret": "VOICELENS_SIGNING_SECRET or --signing-secret-file",
    "--oauth-client-secret": "VOICELENS_OAUTH_CLIENT_SECRET or --oauth-client-secret-file",
}


def _secret_flag(args: Sequence[str]) -> str | None:
    for arg in args:
        name = arg.split("=", 1)[0]
        if name in SECRET_FLAGS:
            return name
    return None


def _describe_source_error(exc: SettingsError) -> str:
    """A value the environment or the command line could not parse, named as the person set it.

    pydantic-settings names the field by its attribute (``error parsing value for field
    "kafka_config" from source "EnvSettingsSource"``, ``Parsing error encountered for
    deliver.kafka_config: ...``); the person typed a flag or a variable.
    """
    from voicelens.settings import ENV_PREFIX, setting_label

    text = str(exc)
    match = _SOURCE_ERROR.search(text)
    if match is None:
        return text
    field = match.group(1)
    if "EnvSettingsSource" in text:
        problem = f"{ENV_PREFIX}{field.upper()} is not valid JSON"
        if exc.__cause__ is not None:
            problem += f": {exc.__cause__}"
    else:
        problem = "the flag's value cannot be parsed (KEY=VALUE or JSON expected)"
    return f"invalid setting {setting_label(field)}: {problem}"


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``voicelens`` console script."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args in (["--version"], ["-V"]):
        print(f"voicelens {__version__}")
        return
    flag = _secret_flag(args)
    if flag is not None:
        print(
            f"voicelens: {flag} is a secret and is refused on the command line, where other "
            f"users of the host can read it; use {SECRET_FLAGS[flag]}",
            file=sys.stderr,
        )
        sys.exit(2)
    from pydantic import ValidationError
    from pydantic_settings import CliApp, SettingsError

    from voicelens.commands import VoicelensCli
    from voicelens.logs import configure_logging

    configure_logging()
    try:
        CliApp.run(VoicelensCli, cli_args=args)
    except ValidationError as exc:
        print(f"voicelens: {_describe(exc)}", file=sys.stderr)
        sys.exit(2)
    except SettingsError as exc:
        print(f"voicelens: {_describe_source_error(exc)}", file=sys.stderr)
        sys.exit(2)
    except VoicelensError as exc:
        log.debug("command failed", exc_info=True)
        print(f"voicelens: error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
