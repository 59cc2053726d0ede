"""Plain-Python core of yemma-dbsplit, shipped to the managed host as Ansible module_utils.

Modules import it as ``ansible.module_utils.dbsplit.<name>``; tests import the same
path after ``tests/conftest.py`` adds this directory to ``ansible.module_utils``.
"""
