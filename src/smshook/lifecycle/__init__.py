"""Message lifecycle: what smshook knows about each message's whole life (issue 15).

* :mod:`.registration` — ``POST /v1/messages``: the application registers what it sent (its
  ``reference``, ``metadata``, ``sent_at`` and the provider ids of the ``parts``); receipts that came
  before the registration are linked when it arrives, and the events of a registered message carry its
  reference and metadata wherever they are shown or forwarded (:func:`.store.enrich`).
* :mod:`.parts` — one status rolled up from the parts of a multipart message, and time to final.
* :mod:`.stuck` — a synthetic ``expired`` for messages without a final status within
  ``final_within``, made in the background in batches, by one process at a time (a lease).
* :mod:`.optouts` — STOP / START keywords and provider signals become ``optout`` / ``optin`` events;
  the current opt-out of a number is read from them with one indexed look-up.
* :mod:`.store` — the database side of all of the above, the same code for SQLite and PostgreSQL.

The planning functions (validation, roll-up, which events to add) are pure; only :mod:`.store` and
:class:`.stuck.Sweeper` touch the database.
"""
