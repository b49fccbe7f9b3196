# -*- coding: utf-8 -*-
# Copyright: linuxnet.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.linuxnet.keepalive.plugins.module_utils._report_text import markdown_cell, xml_text


def keepalive_markdown(text):
    """Untrusted text made safe for one Markdown table cell."""
    return markdown_cell(text)


def keepalive_xml(text):
    """Untrusted text made safe for XML 1.0."""
    return xml_text(text)


class FilterModule(object):
    def filters(self):
        return {'keepalive_markdown': keepalive_markdown, 'keepalive_xml': keepalive_xml}
