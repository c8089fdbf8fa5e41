"""The Models page: versions with their metrics, the champion and its backup, and rollback."""

from __future__ import annotations

from typing import Any

import pandas as pd
import panel as pn
import param
from panel.viewable import Viewer

from mindpulse.figures import format_count

from dashboard.model_cards import card_url, cards_base
from dashboard.stores.models import QUARANTINE_COLUMNS, VERSION_COLUMNS, ModelStore, version_row
from dashboard.views.common import code, literal, message_for, run_busy, show_status, status_alert, without


def table_columns() -> list[str]:
    """:data:`TABLE_COLUMNS` first, then any other column the store gives, then the link to each model card."""
    return [*[c for c in TABLE_COLUMNS if c in VERSION_COLUMNS], *[c for c in VERSION_COLUMNS if c not in TABLE_COLUMNS],
            CARD_COLUMN]


#: The column linking each version's model card (served by the dashboard's server: dashboard.model_cards).
CARD_COLUMN = "model_card"


def version_card(title: str, version: Any) -> pn.pane.Markdown:
    """A short description of one version (or of its absence)."""
    if version is None:
        text = f"### {title}\nnone yet"
    else:
        row = version_row(version)
        lines = [f"### {title}", f"**{code(row['version'])}** · {literal(row['model'] or 'model')}"]
        if row["holdout_roc_auc"] is not None:
            accuracy = row["holdout_accuracy"]
            # Four decimals: the promotion gate compares figures that differ in the fourth.
            lines.append(f"holdout ROC-AUC {row['holdout_roc_auc']:.4f}"
                         + (f" · accuracy {accuracy:.4f}" if accuracy is not None else ""))
        if row["train_rows"] is not None:
            lines.append(f"trained on {format_count(row['train_rows'])} rows ({literal(row['data_source'] or 'unknown source')})")
        lines.append(f"created {literal(row['created_at'])} · [Model card]({card_url(row['version'], cards_base())})")
        text = "\n\n".join(lines)
    return pn.pane.Markdown(text, width=420, css_classes=[f"mp-{title.lower()}"],
                            styles={"border": "1px solid #ddd", "border-radius": "6px", "padding": "0 12px"})


def former_card(versions: list[Any]) -> pn.pane.Markdown:
    """The former champions kept beside the backup (pruning never deletes them)."""
    lines = ["### Former champions", "kept beside the backup; a rollback can return to any of them"]
    lines += [f"{code(v.version)} · holdout ROC-AUC {v.metric('holdout'):.4f}" if v.metric("holdout") is not None
              else code(v.version) for v in versions] or ["none besides the backup"]
    return pn.pane.Markdown("\n\n".join(lines), width=420, css_classes=["mp-former"],
                            styles={"border": "1px solid #ddd", "border-radius": "6px", "padding": "0 12px"})


#: The table's column order: what the gate decided on first, the long texts (wrapped) after.
TABLE_COLUMNS = ["version", "status", "holdout_roc_auc", "holdout_accuracy", "train_rows", "data_source", "model",
                 "note", "created_at"]


class ModelsView(Viewer):
    """Shows the registry; a rollback asks for confirmation before it changes the champion."""

    store = param.ClassSelector(class_=ModelStore)

    def __init__(self, **params: Any):
        super().__init__(**params)
        self.cards = pn.Row()
        self.table = pn.widgets.Tabulator(
            pd.DataFrame(columns=table_columns()), show_index=False, disabled=True, sizing_mode="stretch_width",
            max_height=420, layout="fit_data_stretch",
            # Four decimals where the gate's decision depends on them; long texts wrap instead of being cut.
            formatters={"note": {"type": "textarea"}, "data_source": {"type": "textarea"},
                        "holdout_roc_auc": {"type": "money", "precision": 4, "thousand": ""},
                        "holdout_accuracy": {"type": "money", "precision": 4, "thousand": ""},
                        CARD_COLUMN: {"type": "link", "label": "Model card", "target": "_blank"}},
            widths={"note": 320, "data_source": 200},
            titles={"holdout_roc_auc": "holdout ROC-AUC", "holdout_accuracy": "holdout accuracy",
                    "train_rows": "trained on (rows)", "data_source": "data", "note": "gate decision",
                    CARD_COLUMN: "model card"},
        )
        # A Tabulator's plain-text cells show the reason as typed (never as markup).
        self.quarantine_table = pn.widgets.Tabulator(
            pd.DataFrame(columns=QUARANTINE_COLUMNS), show_index=False, disabled=True, sizing_mode="stretch_width",
            max_height=240, layout="fit_data_stretch", formatters={"reason": {"type": "textarea"}},
            titles={"quarantined_by": "by", "quarantined_at": "since"})
        self.quarantine_note = pn.pane.Markdown("")
        self.target = pn.widgets.Select(label="Roll back to", options=[], width=320)
        self.rollback_button = pn.widgets.Button(label="Roll back…", color="warning", width=160, align="end")
        self.rollback_button.on_click(self._on_rollback)
        self.question = pn.pane.Markdown("")
        self.confirm_button = pn.widgets.Button(label="Confirm rollback", color="danger", width=180)
        self.cancel_button = pn.widgets.Button(label="Cancel", color="light", width=120)
        self.confirm_button.on_click(self._on_confirm)
        self.cancel_button.on_click(self._on_cancel)
        self.confirmation = pn.Column(self.question, pn.Row(self.confirm_button, self.cancel_button), visible=False,
                                      styles={"border": "1px solid #c53030", "border-radius": "6px", "padding": "0 12px"})
        self.status = status_alert()
        self.refresh_button = pn.widgets.Button(label="Refresh", color="light", width=120)
        self.refresh_button.on_click(lambda event: self.refresh())
        self._layout = pn.Column(
            pn.pane.Markdown("## Models\nEvery kept version with its holdout metrics. The gate scores champion and "
                             "challenger on the same rows (the fixed holdout and recent production rows neither "
                             "trained on) and refuses the challenger when the 95 % interval of its ROC-AUC minus the "
                             "champion's lies below minus the margin, or when it falls more than the margin below the "
                             "best model ever promoted. The note gives both ROC-AUCs, the interval and the decision. "
                             "Kept: the newest versions, the champion, its backup (the previous champion) and the "
                             "last former champions."),
            self.refresh_button,
            self.cards,
            self.table,
            pn.pane.Markdown("### Quarantined snapshots\nProduction snapshots set aside with `mindpulse store "
                             "quarantine SNAPSHOT --reason TEXT`: retrains leave their rows out until "
                             "`mindpulse store release SNAPSHOT`. A refused retrain's summary scores the champion "
                             "on each snapshot, so a batch that does not fit stands out."),
            self.quarantine_note,
            self.quarantine_table,
            pn.pane.Markdown("### Roll back\nMake a former champion the champion again (by default the backup, "
                             "the champion before the last change). Predictions use it at once, and the "
                             "replaced champion becomes the backup, so a rollback can be undone."),
            pn.Row(self.target, self.rollback_button),
            self.confirmation,
            self.status,
            sizing_mode="stretch_width",
        )
        self.approvals = None  # challengers waiting for an admin's approval (dashboard/views/approvals.py)
        if self.store.may("admin"):
            from dashboard.stores.approvals import ApprovalStore
            from dashboard.views.approvals import PendingApprovalsView

            self.approvals = PendingApprovalsView(store=ApprovalStore(settings=self.store.settings,
                                                                      principal=self.store.principal))
            self._layout.insert(3, self.approvals)
        if not self.store.may("admin"):
            without(self._layout, self.target, self.rollback_button, self.question, self.confirm_button, self.cancel_button,
                    headings=("### Roll back",))
        self.refresh()

    def refresh(self) -> None:
        """Read the registry again."""
        if self.approvals is not None:
            self.approvals.refresh()
        try:
            champion, backup = self.store.champion(), self.store.backup()
            table = self.store.table()
        except Exception as error:
            show_status(self.status, message_for(error), "danger")
            return
        self.cards.objects = [version_card("Champion", champion), version_card("Backup", backup),
                              former_card(self.store.former_champions())]
        table[CARD_COLUMN] = [card_url(version, cards_base()) for version in table["version"]]
        self.table.value = table[table_columns()]
        try:
            quarantined = self.store.quarantined()
        except Exception as error:  # the registry still shows when the data store cannot be read
            self.quarantine_note.object = f"The production store cannot be read: {message_for(error)}"
        else:
            self.quarantine_table.value = quarantined
            self.quarantine_note.object = ("None: every archived snapshot is in the training data." if quarantined.empty
                                           else f"{len(quarantined)} snapshot(s) left out of training.")
        targets = self.store.rollback_targets()
        self.target.options = targets
        if backup is not None and backup.version in targets:
            self.target.value = backup.version
        self.rollback_button.disabled = not targets

    def _on_rollback(self, event: Any = None) -> None:
        self.ask()

    def ask(self) -> None:
        """Show the confirmation step for rolling back to the chosen version."""
        champion = self.store.champion()
        if not self.target.value:
            show_status(self.status, "There is no former champion to roll back to.", "warning")
            return
        current = champion.version if champion is not None else "none"
        self.question.object = (f"**Make {code(self.target.value)} the champion instead of {code(current)}?** "
                                "New predictions will use it immediately.")
        self.confirmation.visible = True
        show_status(self.status, None)

    def _on_cancel(self, event: Any = None) -> None:
        self.confirmation.visible = False
        show_status(self.status, "Rollback cancelled; nothing changed.", "info")

    async def _on_confirm(self, event: Any = None) -> None:
        await self.confirm()

    async def confirm(self) -> None:
        """Roll back to the chosen version (the second, deliberate step)."""
        target = self.target.value
        try:
            champion = await run_busy([self.confirm_button, self.cancel_button, self.rollback_button],
                                      self.store.rollback, target)
        except Exception as error:
            show_status(self.status, message_for(error), "danger")
            return
        self.confirmation.visible = False
        self.refresh()
        show_status(self.status, f"The champion is now {code(champion.version)}.", "success")

    def __panel__(self) -> pn.viewable.Viewable:
        return self._layout
