"""Refuse to build a version that is already released while changelog fragments wait.

Releasing (antsibull-changelog release) turns the fragments into the version's release notes and
removes them. A fragment left over at a released version would never reach any release notes:
bump the version in galaxy.yml, or release the fragments.
"""

import os
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main():
    with open(os.path.join(ROOT, 'galaxy.yml')) as handle:
        version = str(yaml.safe_load(handle)['version'])
    with open(os.path.join(ROOT, 'changelogs', 'changelog.yaml')) as handle:
        releases = (yaml.safe_load(handle) or {}).get('releases') or {}
    fragments = sorted(name for name in os.listdir(os.path.join(ROOT, 'changelogs', 'fragments'))
                       if name.endswith(('.yml', '.yaml')))
    if version in releases and fragments:
        print('galaxy.yml says %s, which is already released in changelogs/changelog.yaml, but these changelog '
              'fragments wait: %s. Bump the version in galaxy.yml, or release them (antsibull-changelog release).'
              % (version, ', '.join(fragments)))
        return 1
    print('release notes: %s %s' % (version, 'released' if version in releases
                                    else 'not yet released, %d fragment(s) waiting' % len(fragments)))
    return 0


if __name__ == '__main__':
    sys.exit(main())
