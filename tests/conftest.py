"""Make the repository's module_utils importable as Ansible ships them to a host."""

import os

import ansible.module_utils

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ansible.module_utils.__path__.append(os.path.join(ROOT, "module_utils"))
