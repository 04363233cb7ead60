"""The audit sinks' settings: the audit channel and the SIEM webhook (a mixin of `Settings`)."""

from __future__ import annotations

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings

from bot.domain.patterns import SLACK_CHANNEL_ID
from bot.domain.siem import WEBHOOK_FORMATS, WebhookFormat, not_an_event_endpoint
from bot.domain.urls import credentials, endpoint, is_http_url, sends_in_clear
from bot.settings.base import MODEL_CONFIG


class AuditSettings(BaseSettings):
    """Where audit events go besides the store: the audit channel and an optional webhook (a SIEM)."""

    model_config = MODEL_CONFIG

    audit_channel: str | None = Field(None, validation_alias=AliasChoices("ROK_BOT_AUDIT_CHANNEL"))
    # A second audit sink (a SIEM): the same outbox, signed with HMAC-SHA256. Its URL may hold the collector's key
    # (userinfo, `?token=`): never in a repr, masked in logs (secrets()), shown as `endpoint()` only.
    audit_webhook_url: str | None = Field(None, repr=False, validation_alias=AliasChoices("ROK_BOT_AUDIT_WEBHOOK_URL"))
    audit_webhook_secret: SecretStr | None = Field(None, validation_alias=AliasChoices("ROK_BOT_AUDIT_WEBHOOK_SECRET"))
    # What the webhook's body looks like (bot/domain/siem.py): `rok` (signed JSON), `jsonl` (signed NDJSON) or
    # `splunk_hec` (the URL is HEC's `/services/collector/event`, the secret its token).
    audit_webhook_format: WebhookFormat = Field("rok", validation_alias=AliasChoices("ROK_BOT_AUDIT_WEBHOOK_FORMAT"))

    @field_validator("audit_channel")
    @classmethod
    def _channel_id(cls, value: str | None) -> str | None:
        if value is not None and not SLACK_CHANNEL_ID.fullmatch(value):
            raise ValueError("must be a Slack channel ID such as C0123ABCD (not a #name)")
        return value

    @field_validator("audit_webhook_format", mode="before")
    @classmethod
    def _known_format(cls, value: object) -> object:
        text = value.strip().lower() if isinstance(value, str) else value
        if text not in WEBHOOK_FORMATS:
            raise ValueError(f"must be one of {', '.join(WEBHOOK_FORMATS)} (rok is the default)")
        return text

    @model_validator(mode="after")
    def _webhook_over_tls(self) -> AuditSettings:
        if self.audit_webhook_url is not None:
            if not is_http_url(self.audit_webhook_url) or sends_in_clear(self.audit_webhook_url):
                raise ValueError(
                    f"ROK_BOT_AUDIT_WEBHOOK_URL: {endpoint(self.audit_webhook_url)[:80]} must be an https:// URL "
                    "(plain http only to this machine)"
                )
            if self.audit_webhook_secret is None or len(self.audit_webhook_secret.get_secret_value()) < 16:
                raise ValueError(
                    "ROK_BOT_AUDIT_WEBHOOK_SECRET: required with ROK_BOT_AUDIT_WEBHOOK_URL (16+ characters)"
                )
            if self.audit_webhook_format == "splunk_hec" and not_an_event_endpoint(self.audit_webhook_url):
                raise ValueError(
                    f"ROK_BOT_AUDIT_WEBHOOK_URL: {endpoint(self.audit_webhook_url)[:80]} is not HEC's event endpoint "
                    "(with ROK_BOT_AUDIT_WEBHOOK_FORMAT=splunk_hec use https://HOST:8088/services/collector/event)"
                )
        return self

    @property
    def audit_sinks(self) -> tuple[str, ...]:
        """The outbox's sinks: the audit channel and the webhook, those configured (events are kept either way)."""
        return tuple(sink for sink, on in (("slack", self.audit_channel), ("webhook", self.audit_webhook_url)) if on)

    def audit_secrets(self) -> list[str]:
        """The webhook's secret, and its URL with any key inside it (Splunk HEC: `?token=<GUID>`), for the log
        redaction filter."""
        found = [self.audit_webhook_secret.get_secret_value()] if self.audit_webhook_secret is not None else []
        if self.audit_webhook_url:
            found += [self.audit_webhook_url, *credentials(self.audit_webhook_url, whole=True)]
        return [value for value in found if value]
