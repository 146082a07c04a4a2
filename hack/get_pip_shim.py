# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Offline stand-in for the get-pip script ansible-test downloads.

hack/lib.sh copies this file to ~/.ansible/test/cache/get_pip_<version>.py next to the
pip wheel of that version. ansible-test runs it inside a fresh virtualenv with pip's
install arguments (for example: --disable-pip-version-check pip==24.2 --no-setuptools
--no-wheel). Like the real get-pip, it runs pip from the wheel to install pip itself.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import glob
import os
import sys

# Options that get-pip understands itself and pip does not.
GET_PIP_ONLY_OPTIONS = ('--no-setuptools', '--no-wheel')


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    args = [arg for arg in sys.argv[1:] if arg not in GET_PIP_ONLY_OPTIONS]
    wanted = [arg.split('==', 1)[1] for arg in args if arg.startswith('pip==')]
    pattern = 'pip-%s-*.whl' % (wanted[0] if wanted else '*')
    wheels = sorted(glob.glob(os.path.join(here, pattern)))
    if not wheels:
        sys.exit('get-pip shim: no %s in %s; run the project\'s hack scripts to fetch it' % (pattern, here))
    sys.path.insert(0, wheels[-1])
    from pip._internal.cli.main import main as pip_main  # pylint: disable=import-outside-toplevel
    sys.exit(pip_main(['install', '--upgrade', '--force-reinstall', '--find-links', here] + args))


if __name__ == '__main__':
    main()
