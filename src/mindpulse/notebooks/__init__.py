"""The pipeline notebooks, written from one template (:mod:`~mindpulse.notebooks.template`) and one
description per step (:mod:`~mindpulse.notebooks.steps`): ``python -m mindpulse.notebooks --write``."""
