"""The logs' settings: how verbose, in which format, and to which stream (a mixin of `Settings`)."""

from __future__ import annotations

from typing import Literal

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
