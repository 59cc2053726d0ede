"""Shared code of the controller's plugins (filters, lookups): what runs on the controller only.

``module_utils`` holds what modules run on the managed host (and what both sides share, such as
the run's state machine); this package holds what only the plays' filters need: the settings
checked as data (settings), the disk needs (disk), the PostgreSQL versions proven (versions).
"""
