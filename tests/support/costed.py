"""pi under other cost declarations, for ``workers = auto``.

``HOUR`` declares an hour of work (so ``auto`` takes the pool even for a
tiny run); ``UNKNOWN`` declares no cost at all.
"""
import dataclasses

from simcore.models import pi

HOUR = dataclasses.replace(pi.MODEL, name="pi_hour", cost=lambda p: 3600.0)
UNKNOWN = dataclasses.replace(pi.MODEL, name="pi_unknown", cost=None)
