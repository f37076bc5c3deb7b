"""tools/setup_env.sh is safe to run twice at once: the mmcv build of one cache key runs under
tools/build_lock.sh's lock, so a second setup waits and reuses the first one's wheel instead of
building into (and deleting) the same folder."""
import subprocess
import time

from mmrun import REPO

# a stand-in for the mmcv build: skips when the wheel exists (as build_mmcv does), else "builds"
# slowly and records that it did
BUILD = '''
source tools/build_lock.sh
build() {
  [ -e "$CACHE/wheel" ] && { echo reused; return; }
  echo build >> "$CACHE/builds"; sleep 2; touch "$CACHE/wheel"; echo built
}
holding_build_lock "$CACHE" mmcv-key build
'''


def test_a_second_setup_waits_and_reuses_the_wheel(tmp_path):
    env = dict(CACHE=str(tmp_path), PATH='/usr/bin:/bin')
    first = subprocess.Popen(['bash', '-c', BUILD], cwd=REPO, env=env, stdout=subprocess.PIPE,
                             text=True)
    while not (tmp_path / 'builds').exists():  # the first one holds the lock
        time.sleep(0.05)
    second = subprocess.run(['bash', '-c', BUILD], cwd=REPO, env=env, stdout=subprocess.PIPE,
                            text=True, timeout=60)
    assert first.communicate(timeout=60)[0].split() == ['built']
    assert 'another setup is building mmcv-key: waiting for it to finish' in second.stdout
    assert second.stdout.split()[-1] == 'reused'
    assert (tmp_path / 'builds').read_text().split() == ['build']  # one build in all


def test_setup_sources_the_lock_around_the_build():
    script = (REPO / 'tools' / 'setup_env.sh').read_text()
    assert 'source "$repo/tools/build_lock.sh"' in script
    assert 'holding_build_lock "$cache" "$key" build_mmcv' in script
