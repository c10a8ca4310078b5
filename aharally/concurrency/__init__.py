"""Caps on work in flight that hold across processes and machines (Rally's 12 per user).

`shared_cap(key, limit)` gives a `SharedCap`: slots leased in the database (PostgreSQL or
SQLite), or in Redis when `REDIS_URL` is set. See `aharally/concurrency/slots.py`.
"""
