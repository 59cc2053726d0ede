"""Code shared by the yemma sandbox backend services.

Installed in every service image as /usr/lib/python3/dist-packages/yemma_common, a
directory that is always on Debian's sys.path whatever PYTHONPATH says (candidate
sets PYTHONPATH=/app).  Nothing here imports alembic at module level: the candidate
image shadows the alembic package on purpose (see candidate/Dockerfile).
"""
