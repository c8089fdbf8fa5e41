"""Pipeline notifications: always to the log, and to the webhook and e-mail set in the settings.

Nothing is sent to an address the settings do not name. A channel that fails (server down,
refused mail) is reported in the returned statuses and logged; it never raises, so a broken
mail server cannot fail a pipeline run that otherwise succeeded.
"""

from __future__ import annotations

import logging
import smtplib
from dataclasses import asdict, dataclass, field
from email.message import EmailMessage
from typing import Any, Literal

from mindpulse.settings import Settings, get_settings

log = logging.getLogger("mindpulse.notify")

Level = Literal["info", "success", "failure"]
LEVELS: tuple[str, ...] = ("info", "success", "failure")


@dataclass
class Notification:
    """One message about the pipeline: a subject line, a text, and the facts as a JSON payload."""

    subject: str
    text: str
    level: Level = "info"
    payload: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.level not in LEVELS:
            raise ValueError(f"level={self.level!r}: expected one of {', '.join(LEVELS)}")

    def as_json(self) -> dict[str, Any]:
        """The webhook body."""
        return {"source": "mindpulse", **asdict(self)}


def send(notification: Notification, settings: Settings | None = None, *, timeout: float = 10.0) -> dict[str, str]:
    """Log the notification and deliver it to each configured channel; returns channel -> status."""
    settings = settings or get_settings()
    log_level = logging.ERROR if notification.level == "failure" else logging.INFO
    log.log(log_level, "%s: %s", notification.subject, notification.text)
    return {
        "log": "sent",
        "webhook": _post_webhook(notification, settings, timeout),
        "email": _send_email(notification, settings, timeout),
    }


def _post_webhook(notification: Notification, settings: Settings, timeout: float) -> str:
    if not settings.webhook_url:
        return "not configured (MINDPULSE_WEBHOOK_URL)"
    import httpx

    try:
        response = httpx.post(settings.webhook_url, json=notification.as_json(), timeout=timeout)
        response.raise_for_status()
    except httpx.HTTPError as exc:
        log.warning("webhook %s: not delivered: %s", settings.webhook_url, exc)
        return f"failed: {exc}"
    return f"sent (HTTP {response.status_code})"


def _send_email(notification: Notification, settings: Settings, timeout: float) -> str:
    if not settings.smtp_host:
        return "not configured (MINDPULSE_SMTP_HOST)"
    recipients = [address.strip() for address in (settings.email_to or "").split(",") if address.strip()]
    if not settings.email_from or not recipients:
        missing = "MINDPULSE_EMAIL_FROM" if not settings.email_from else "MINDPULSE_EMAIL_TO"
        log.warning("e-mail not sent: %s is empty", missing)
        return f"not configured ({missing} is empty)"
    message = EmailMessage()
    message["Subject"] = f"[MindPulse] {notification.subject}"
    message["From"] = settings.email_from
    message["To"] = ", ".join(recipients)
    message.set_content(notification.text)
    try:
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=timeout) as smtp:
            smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        log.warning("e-mail via %s:%s not delivered: %s", settings.smtp_host, settings.smtp_port, exc)
        return f"failed: {exc}"
    return f"sent to {len(recipients)} recipient(s)"
