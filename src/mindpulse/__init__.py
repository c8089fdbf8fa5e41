"""MindPulse: notebook-driven MLOps for a student depression-risk screening aid.

MindPulse is a screening aid, never a diagnosis.
"""

__version__ = "0.1.0"
