"""The logs' settings: how verbose, in which format, and to which stream (a mixin of `Settings`)."""

from __future__ import annotations

import os
from typing import Literal
from urllib.parse import unquote

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings

from bot.settings.base import MODEL_CONFIG


class LogSettings(BaseSettings):
    """Where the logs go: some platforms read a container's stdout only, or tag stderr as errors."""

    model_config = MODEL_CONFIG

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", validation_alias=AliasChoices("ROK_BOT_LOG_LEVEL")
    )
    log_format: Literal["json", "text"] = Field("json", validation_alias=AliasChoices("ROK_BOT_LOG_FORMAT"))
    # stderr by default: the CLI's stdout carries the token (or `--json`) alone, and must stay that way.
    log_stream: Literal["stderr", "stdout"] = Field("stderr", validation_alias=AliasChoices("ROK_BOT_LOG_STREAM"))


# The OTLP exporter's headers (a collector's API key: `api-key=...`), which the OpenTelemetry SDK reads from the
# environment only. Not settings of ours, but secrets all the same: the log redaction filter masks their values.
OTLP_HEADER_VARIABLES = ("OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS")


def otlp_header_secrets(environ: dict[str, str] | None = None) -> list[str]:
    """The values of the OTLP exporter's headers (`k1=v1,k2=v2`, values URL-encoded), as sent and as written."""
    env = os.environ if environ is None else environ
    found: list[str] = []
    for name in OTLP_HEADER_VARIABLES:
        for pair in env.get(name, "").split(","):
            _, sep, value = pair.partition("=")
            if sep and value.strip():
                found += [value.strip(), unquote(value.strip())]
    return [value for value in found if len(value) >= 4]
