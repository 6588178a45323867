"""Peak RSS windows: a stage's allocation shows in its own window, not in a later one."""

import math
import time

import numpy as np

from cnnlstm.core.memory import PeakRss, current_rss_mib, high_water_mib

MIB = 1024**2


def test_a_window_sees_the_memory_its_block_touched_and_the_next_one_does_not():
    memory = PeakRss()
    base = current_rss_mib()
    memory.open("big")
    block = np.ones(300 * MIB // 8)  # 300 MiB, written: resident
    big = memory.close("big")
    del block
    before_small = current_rss_mib()
    memory.open("small")
    small_block = np.ones(20 * MIB // 8)
    time.sleep(0.1)  # the sampler's turn: this window is below the process's earlier peak
    small = memory.close("small")
    del small_block
    assert big >= base + 250  # a new process peak: the high-water mark (other memory may be freed)
    assert big <= high_water_mib() + 1
    assert before_small + 15 <= small < big - 200  # sampled: the 20 MiB, not the 300 MiB
    assert math.isnan(memory.close("never opened"))


def test_overlapping_windows_each_get_the_process_peak_while_they_were_open():
    memory = PeakRss()
    memory.open("a")
    memory.open("b")
    base = current_rss_mib()
    block = np.ones(100 * MIB // 8)
    time.sleep(0.1)  # sampled (below the earlier test's peak): the sampler sees the block
    a = memory.close("a")
    del block
    b = memory.close("b")
    assert a >= base + 90 and b >= base + 90  # both saw the block (b closed after it was freed)


def test_a_window_opened_just_after_the_last_one_closed_is_still_sampled():
    memory = PeakRss()
    memory.open("first")
    memory.close("first")  # the sampler is idle now, and may not have noticed yet
    memory.open("second")
    base = current_rss_mib()
    block = np.ones(60 * MIB // 8)
    time.sleep(0.2)
    del block
    assert memory.close("second") >= base + 50
