"""smshook: the receiving side of SMS.

Provider callbacks come in at ``/hooks/{connection}``, are translated by a provider adapter
(:mod:`smshook.providers`) into normalized :class:`~smshook.events.Event` objects, stored durably
(:mod:`smshook.storage`) and only then answered the way that provider requires.
"""

__version__ = "0.1.0"
