"""Pipeline notifications: a webhook and mail to the addresses of the settings, failures reported not raised."""

from __future__ import annotations

import socketserver
import threading
from pathlib import Path

from airflow_support import WebhookReceiver, free_port
from mindpulse import notify
from mindpulse.settings import Settings


class _SMTPServer:
    """A minimal real SMTP server on a free port that keeps each message it receives."""

    def __init__(self) -> None:
        self.messages: list[dict[str, object]] = []
        messages = self.messages

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                envelope: dict[str, object] = {"rcpt": []}
                self.wfile.write(b"220 test SMTP\r\n")
                while line := self.rfile.readline():
                    command = line.decode().strip()
                    verb = command.split(" ", 1)[0].upper()
                    if verb in ("EHLO", "HELO"):
                        self.wfile.write(b"250 test\r\n")
                    elif verb == "MAIL":
                        envelope["from"] = command.split(":", 1)[1].strip(" <>")
                        self.wfile.write(b"250 OK\r\n")
                    elif verb == "RCPT":
                        envelope["rcpt"].append(command.split(":", 1)[1].strip(" <>"))  # type: ignore[union-attr]
                        self.wfile.write(b"250 OK\r\n")
                    elif verb == "DATA":
                        self.wfile.write(b"354 go on\r\n")
                        body = []
                        while (data := self.rfile.readline()) not in (b".\r\n", b""):
                            body.append(data.decode())
                        messages.append({**envelope, "data": "".join(body)})
                        self.wfile.write(b"250 queued\r\n")
                    elif verb == "QUIT":
                        self.wfile.write(b"221 bye\r\n")
                        return
                    else:
                        self.wfile.write(b"250 OK\r\n")

        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def test_notification_goes_to_the_webhook_and_the_mail_of_the_settings(tmp_path: Path) -> None:
    smtp = _SMTPServer()
    try:
        with WebhookReceiver() as hook:
            settings = Settings(home=tmp_path, webhook_url=hook.url, smtp_host="127.0.0.1", smtp_port=smtp.port,
                                email_from="pipeline@example.org", email_to="a@example.org, b@example.org")
            status = notify.send(notify.Notification("ml_retrain_pipeline: promoted", "v2 is champion", "success",
                                                     {"outcome": "promoted"}), settings)
    finally:
        smtp.close()
    assert status["webhook"].startswith("sent") and status["email"] == "sent to 2 recipient(s)"
    assert hook.received[0]["path"] == "/hooks/mindpulse"
    assert hook.received[0]["content_type"] == "application/json"
    assert hook.received[0]["json"] == {"source": "mindpulse", "subject": "ml_retrain_pipeline: promoted",
                                        "text": "v2 is champion", "level": "success", "payload": {"outcome": "promoted"}}
    mail = smtp.messages[0]
    assert mail["from"] == "pipeline@example.org" and mail["rcpt"] == ["a@example.org", "b@example.org"]
    assert "Subject: [MindPulse] ml_retrain_pipeline: promoted" in mail["data"] and "v2 is champion" in mail["data"]


def test_unreachable_channels_are_reported_not_raised(tmp_path: Path) -> None:
    port = free_port()
    settings = Settings(home=tmp_path, webhook_url=f"http://127.0.0.1:{port}/x", smtp_host="127.0.0.1", smtp_port=port,
                        email_from="pipeline@example.org", email_to="a@example.org")
    status = notify.send(notify.Notification("s", "t", "failure"), settings, timeout=2)
    assert status["log"] == "sent"
    assert status["webhook"].startswith("failed:") and status["email"].startswith("failed:")


def test_nothing_is_sent_where_the_settings_name_no_address(tmp_path: Path) -> None:
    status = notify.send(notify.Notification("s", "t"), Settings(home=tmp_path, smtp_host="127.0.0.1"))
    assert status["webhook"] == "not configured (MINDPULSE_WEBHOOK_URL)"
    assert status["email"] == "not configured (MINDPULSE_EMAIL_FROM is empty)"


def test_a_webhook_error_status_is_a_failed_delivery(tmp_path: Path) -> None:
    with WebhookReceiver(status=500) as hook:
        status = notify.send(notify.Notification("s", "t"), Settings(home=tmp_path, webhook_url=hook.url))
    assert status["webhook"].startswith("failed:") and "500" in status["webhook"]
