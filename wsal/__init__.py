"""wsal: weakly-supervised temporal action localization.

Kept deliberately light: importing ``wsal`` (or ``wsal.eval``) never imports torch.
"""

__version__ = "0.1.0"
