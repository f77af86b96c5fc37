"""pcapexplain: rebuild every TCP connection in a capture and explain what each packet did."""

from __future__ import annotations

__version__ = "0.1.0"
