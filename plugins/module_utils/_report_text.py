# -*- coding: utf-8 -*-
# Copyright: linuxnet.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Untrusted text (process names, unit names, paths, host names) made safe for each report format.

A process name is any bytes but '/' and NUL, chosen by whoever started the process: a newline
would end a Markdown table row and start a heading, and a control character makes an XML file
malformed. Every character that is not printable (control, format, line and paragraph separators,
unassigned and surrogate code points) is shown as a visible escape (\\x0a, \\u202e), then the text
is escaped for its format.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import unicodedata

_HIDDEN = ('Cc', 'Cf', 'Cs', 'Co', 'Cn', 'Zl', 'Zp')
# Characters with a meaning inside a Markdown (CommonMark, GitHub) table cell, or in the HTML it may
# carry. Others ('-', '.', '(' ...) only mean something at the start of a line or after one of these.
_MARKDOWN_SPECIAL = set('\\`*_[]<>#|~&')


def printable(text):
    """``text`` with every non-printable character replaced by a visible escape: 'a\\nb' -> 'a\\\\x0ab'."""
    if text is None:
        return ''
    if not isinstance(text, str):
        text = str(text)
    out = []
    for char in text:
        if unicodedata.category(char) in _HIDDEN:
            code = ord(char)
            out.append('\\x%02x' % code if code < 0x100 else '\\u%04x' % code if code < 0x10000 else '\\U%08x' % code)
        else:
            out.append(char)
    return ''.join(out)


def markdown_cell(text):
    """Text for one Markdown table cell: printable, with every Markdown or HTML special character escaped."""
    return ''.join('\\' + char if char in _MARKDOWN_SPECIAL else char for char in printable(text))


def xml_text(text):
    """Text for an XML 1.0 attribute or element: printable (no character XML forbids), with & < > " ' escaped."""
    return (printable(text).replace('&', '&amp;').replace('<', '&lt;').replace('>', '&gt;')
            .replace('"', '&quot;').replace("'", '&apos;'))


def nothing_changed(text):
    """A failure's ``text`` that ends by saying nothing was changed, once: for a failure before the first change."""
    if 'Nothing was changed' in text:
        return text
    return text.rstrip().rstrip('.') + '. Nothing was changed.'
