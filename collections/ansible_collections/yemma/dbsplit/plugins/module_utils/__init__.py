"""Plain-Python core of yemma-dbsplit: the logic behind the modules in ``library/``.

Modules, filter plugins and the tests all import it the same way, as
``ansible_collections.yemma.dbsplit.plugins.module_utils.<name>``: Ansible finds the
collection through ``collections_path`` in ansible.cfg, pytest through ``pythonpath``
in pytest.ini.
"""
