/* Deliberate faults on request, so boot scenarios can test the panic path. */
#pragma once

/*
 * crash=panic|null|pagefault|nx|wtext|overflow|irq-overflow|gp|ud|canary|... on the command line
 * makes the kernel fail that way here, once boot is far enough for a full report.
 */
void crash_if_requested(const char *cmdline);
