# This file makes /app/alembic a *regular* package.  With the image's
# PYTHONPATH=/app it therefore shadows the installed alembic package: plain
# `alembic ...` dies with "No module named 'alembic.config'".  That is the
# candidate quirk the runbook works around with
#   docker compose run --rm -e PYTHONPATH= candidate alembic -c /app/alembic.ini stamp head
# Kept on purpose: the sandbox must reproduce the production image.
