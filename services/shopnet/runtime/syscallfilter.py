"""The syscall filter of every process our sandbox starts (local and netns modes).

Run as `/usr/bin/python3 -I syscallfilter.py COMMAND…` after setpriv: it installs a seccomp
filter and execs COMMAND, which keeps it (as do all its children: a filter is inherited and
can never be removed). The allowed set is systemd's `@system-service` (systemd 252, expanded
with `systemd-analyze syscall-filter @system-service`), the usual allow set of a service
unit, minus what makes a namespace (systemd's RestrictNamespaces=yes):

- `unshare` and `setns` are not allowed at all;
- `clone` only without a CLONE_NEW* flag;
- `clone3` fails with ENOSYS, whose flags live in memory a filter cannot read; the C library
  then falls back to `clone` (Docker's default profile does the same).

Everything else fails with EPERM (not SIGSYS: a library probing for a newer call gets an
error it handles, instead of a dead service).

Why a separate interpreter: the filter is built with libseccomp's Python bindings, which
Debian ships for its own python3 only (package python3-seccomp); this file therefore
imports nothing of ours and runs under /usr/bin/python3, whatever the venv's Python is.
It has to run after the sandbox's set-up (which needs mount and unshare) and before the
service, so it is a step of the command line rather than code in the parent.
"""

from __future__ import annotations

import errno
import os
import sys

SYSTEM_PYTHON = "/usr/bin/python3"
"""The interpreter python3-seccomp belongs to."""

NAMESPACE_FLAGS = 0x7E020080
"""CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET | NEWTIME."""

DENIED = ("unshare", "setns")
"""In @system-service (through @process), refused here: they make or join namespaces."""

SYSTEM_SERVICE = """
_llseek _newselect accept accept4 access add_key alarm arch_prctl arm_fadvise64_64 bind brk
cacheflush capget capset chdir chmod chown chown32 clock_getres clock_getres_time64
clock_gettime clock_gettime64 clock_nanosleep clock_nanosleep_time64 close close_range connect
copy_file_range creat dup dup2 dup3 epoll_create epoll_create1 epoll_ctl epoll_ctl_old
epoll_pwait epoll_pwait2 epoll_wait epoll_wait_old eventfd eventfd2 execve execveat exit
exit_group faccessat faccessat2 fadvise64 fadvise64_64 fallocate fchdir fchmod fchmodat
fchmodat2 fchown fchown32 fchownat fcntl fcntl64 fdatasync fgetxattr flistxattr flock fork
fremovexattr fsetxattr fstat fstat64 fstatat64 fstatfs fstatfs64 fsync ftruncate ftruncate64
futex futex_time64 futex_waitv futimesat get_mempolicy get_robust_list get_thread_area getcpu
getcwd getdents getdents64 getegid getegid32 geteuid geteuid32 getgid getgid32 getgroups
getgroups32 getitimer getpeername getpgid getpgrp getpid getppid getpriority getrandom getresgid
getresgid32 getresuid getresuid32 getrlimit getrusage getsid getsockname getsockopt gettid
gettimeofday getuid getuid32 getxattr inotify_add_watch inotify_init inotify_init1
inotify_rm_watch io_cancel io_destroy io_getevents io_pgetevents io_pgetevents_time64 io_setup
io_submit io_uring_enter io_uring_register io_uring_setup ioctl ioprio_get ioprio_set ipc kcmp
keyctl kill lchown lchown32 lgetxattr link linkat listen listxattr llistxattr lremovexattr lseek
lsetxattr lstat lstat64 madvise mbind membarrier memfd_create migrate_pages mkdir mkdirat mknod
mknodat mlock mlock2 mlockall mmap mmap2 move_pages mprotect mq_getsetattr mq_notify mq_open
mq_timedreceive mq_timedreceive_time64 mq_timedsend mq_timedsend_time64 mq_unlink mremap msgctl
msgget msgrcv msgsnd msync munlock munlockall munmap name_to_handle_at nanosleep newfstatat nice
oldfstat oldlstat oldolduname oldstat olduname open openat openat2 pause personality pidfd_open
pidfd_send_signal pipe pipe2 poll ppoll ppoll_time64 prctl pread64 preadv preadv2 prlimit64
process_madvise process_vm_readv process_vm_writev pselect6 pselect6_time64 pwrite64 pwritev
pwritev2 read readahead readdir readlink readlinkat readv recv recvfrom recvmmsg recvmmsg_time64
recvmsg remap_file_pages removexattr rename renameat renameat2 request_key restart_syscall
riscv_flush_icache riscv_hwprobe rmdir rseq rt_sigaction rt_sigpending rt_sigprocmask
rt_sigqueueinfo rt_sigreturn rt_sigsuspend rt_sigtimedwait rt_sigtimedwait_time64
rt_tgsigqueueinfo sched_get_priority_max sched_get_priority_min sched_getaffinity sched_getattr
sched_getparam sched_getscheduler sched_rr_get_interval sched_rr_get_interval_time64
sched_setaffinity sched_setattr sched_setparam sched_setscheduler sched_yield select semctl
semget semop semtimedop semtimedop_time64 send sendfile sendfile64 sendmmsg sendmsg sendto
set_mempolicy set_mempolicy_home_node set_robust_list set_thread_area set_tid_address set_tls
setfsgid setfsgid32 setfsuid setfsuid32 setgid setgid32 setgroups setgroups32 setitimer setpgid
setpriority setregid setregid32 setresgid setresgid32 setresuid setresuid32 setreuid setreuid32
setrlimit setsid setsockopt setuid setuid32 setxattr shmat shmctl shmdt shmget shutdown
sigaction sigaltstack signal signalfd signalfd4 sigpending sigprocmask sigreturn sigsuspend
socket socketcall socketpair splice stat stat64 statfs statfs64 statx swapcontext symlink
symlinkat sync sync_file_range sync_file_range2 syncfs sysinfo tee tgkill time timer_create
timer_delete timer_getoverrun timer_gettime timer_gettime64 timer_settime timer_settime64
timerfd_create timerfd_gettime timerfd_gettime64 timerfd_settime timerfd_settime64 times tkill
truncate truncate64 ugetrlimit umask uname unlink unlinkat uretprobe userfaultfd utime utimensat
utimensat_time64 utimes vfork vmsplice wait4 waitid waitpid write writev
"""
"""@system-service without unshare, setns, clone and clone3 (handled on their own)."""
ALLOWED = tuple(SYSTEM_SERVICE.split())


def build() -> object:
    """The filter as a libseccomp SyscallFilter (not loaded)."""
    import seccomp  # type: ignore[import-not-found]  # Debian's python3-seccomp

    rules = seccomp.SyscallFilter(defaction=seccomp.ERRNO(errno.EPERM))
    rules.set_attr(seccomp.Attr.CTL_OPTIMIZE, 2)  # a binary tree: O(log n) per call
    for name in ALLOWED:
        try:
            rules.add_rule(seccomp.ALLOW, name)
        except (ValueError, RuntimeError, OSError):
            continue  # not a syscall of this architecture (e.g. the 32-bit variants)
    rules.add_rule(seccomp.ALLOW, "clone", seccomp.Arg(0, seccomp.MASKED_EQ, NAMESPACE_FLAGS, 0))
    rules.add_rule(seccomp.ERRNO(errno.ENOSYS), "clone3")
    return rules


def main(argv: list[str]) -> None:
    if not argv:
        sys.stderr.write("usage: syscallfilter.py COMMAND [ARG…]\n")
        raise SystemExit(2)
    build().load()  # type: ignore[attr-defined]
    try:
        os.execvp(argv[0], argv)
    except OSError as exc:
        sys.stderr.write(f"syscallfilter: {argv[0]}: {exc.strerror}\n")
        raise SystemExit(127) from None


if __name__ == "__main__":
    main(sys.argv[1:])
