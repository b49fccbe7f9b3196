# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import xml.etree.ElementTree as ET

import pytest

from ansible_collections.linuxnet.keepalive.plugins.module_utils._report_text import (
    markdown_cell, printable, xml_text,
)

HOSTILE = ['x\n# Injected heading', 'a|b|c', '\x1b[31mred\x00', 'rtl\u202eexe.txt', '<img src=x onerror=1>',
           '[link](http://x)', '**bold** `code`', 'back\\slash', '\ufffe\udc80', 'line\u2028sep', 'tab\tend']


def test_printable_shows_hidden_characters():
    assert printable('a\nb\x1b\u202ec') == 'a\\x0ab\\x1b\\u202ec'
    assert printable('python3') == 'python3' and printable(None) == '' and printable(42) == '42'
    assert printable('caf\u00e9 \u65e5\u672c') == 'caf\u00e9 \u65e5\u672c'  # letters of any script stay


@pytest.mark.parametrize('name', HOSTILE)
def test_markdown_cells_stay_one_cell_on_one_line(name):
    cell = markdown_cell(name)
    assert '\n' not in cell and '\r' not in cell
    # every '|' is escaped, so the row keeps its cells
    assert cell.replace('\\\\', '').count('|') == cell.replace('\\\\', '').count('\\|')
    assert all(ord(c) >= 32 for c in cell)


@pytest.mark.parametrize('name', HOSTILE)
def test_xml_text_parses_in_an_attribute_and_an_element(name):
    text = xml_text(name)
    root = ET.fromstring('<a b="%s">%s</a>' % (text, text))
    assert root.get('b') == root.text == printable(name)
