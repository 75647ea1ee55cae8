//! The seccomp filter every sandboxed program runs under, as the classic BPF program bubblewrap
//! loads from `--seccomp FD` (an array of `struct sock_filter`, native endian).
//!
//! A deny list in the spirit of Docker's and Flatpak's defaults: the kernel interfaces a program
//! never needs to serve HTTP and that widen the attack surface (mounting, new namespaces,
//! kernel modules, keyrings, BPF, perf, io_uring, userfaultfd, tty injection, clock changes...)
//! fail with `EPERM`; `clone3` fails with `ENOSYS` so libc falls back to `clone`, whose namespace
//! flags are checked. A foreign architecture (e.g. x32 or i386 syscalls on x86_64) kills the
//! process. This module only builds bytes; it never loads a filter itself.

use thiserror::Error;

/// The filter cannot be built for this machine.
#[derive(Debug, Error)]
#[error("no seccomp filter for this architecture ({0}); refusing to run unfiltered programs")]
pub struct UnsupportedArch(pub &'static str);

// Classic BPF opcodes (linux/filter.h, linux/bpf_common.h).
const LD_W_ABS: u16 = 0x20;
const JEQ_K: u16 = 0x15;
const JGE_K: u16 = 0x35;
const JSET_K: u16 = 0x45;
const RET_K: u16 = 0x06;

// Return actions (linux/seccomp.h).
const RET_ALLOW: u32 = 0x7fff_0000;
const RET_ERRNO: u32 = 0x0005_0000;
const RET_KILL_PROCESS: u32 = 0x8000_0000;

// Offsets into `struct seccomp_data`.
const OFFSET_NR: u32 = 0;
const OFFSET_ARCH: u32 = 4;
/// Low 32 bits of the first argument (little-endian machines only, see `ARCH`).
const OFFSET_ARG0_LOW: u32 = 16;

#[cfg(target_arch = "x86_64")]
const ARCH: u32 = 0xc000_003e; // AUDIT_ARCH_X86_64
#[cfg(target_arch = "aarch64")]
const ARCH: u32 = 0xc000_00b7; // AUDIT_ARCH_AARCH64

/// x32 syscalls share the x86_64 audit arch but have this bit set in their number.
#[cfg(target_arch = "x86_64")]
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// `clone` flags that create namespaces (CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET).
const CLONE_NAMESPACE_FLAGS: u32 = 0x0002_0000 | 0x7e00_0000;
/// `ioctl` requests that push input into a terminal or rebind its console.
const TIOCSTI: u32 = 0x5412;
const TIOCLINUX: u32 = 0x541c;

#[derive(Clone, Copy)]
struct Insn {
    code: u16,
    jt: u8,
    jf: u8,
    k: u32,
}

const fn stmt(code: u16, k: u32) -> Insn {
    Insn {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

const fn jump(code: u16, k: u32, jt: u8, jf: u8) -> Insn {
    Insn { code, jt, jf, k }
}

/// Syscalls that fail with `EPERM`.
fn denied() -> Vec<libc::c_long> {
    let mut list = vec![
        libc::SYS_mount,
        libc::SYS_umount2,
        libc::SYS_pivot_root,
        libc::SYS_chroot,
        libc::SYS_unshare,
        libc::SYS_setns,
        libc::SYS_open_tree,
        libc::SYS_move_mount,
        libc::SYS_fsopen,
        libc::SYS_fsconfig,
        libc::SYS_fsmount,
        libc::SYS_fspick,
        libc::SYS_mount_setattr,
        libc::SYS_init_module,
        libc::SYS_finit_module,
        libc::SYS_delete_module,
        libc::SYS_kexec_load,
        libc::SYS_kexec_file_load,
        libc::SYS_reboot,
        libc::SYS_swapon,
        libc::SYS_swapoff,
        libc::SYS_syslog,
        libc::SYS_acct,
        libc::SYS_quotactl,
        libc::SYS_add_key,
        libc::SYS_request_key,
        libc::SYS_keyctl,
        libc::SYS_bpf,
        libc::SYS_perf_event_open,
        libc::SYS_userfaultfd,
        libc::SYS_io_uring_setup,
        libc::SYS_io_uring_enter,
        libc::SYS_io_uring_register,
        libc::SYS_open_by_handle_at,
        libc::SYS_name_to_handle_at,
        libc::SYS_process_vm_writev,
        libc::SYS_settimeofday,
        libc::SYS_clock_settime,
        libc::SYS_clock_adjtime,
        libc::SYS_adjtimex,
        libc::SYS_vhangup,
        libc::SYS_personality,
    ];
    #[cfg(target_arch = "x86_64")]
    list.extend([
        libc::SYS_iopl,
        libc::SYS_ioperm,
        libc::SYS_uselib,
        libc::SYS_lookup_dcookie,
        libc::SYS_nfsservctl,
    ]);
    list
}

/// The filter as bubblewrap reads it from `--seccomp FD`.
pub(crate) fn program_bytes() -> Result<Vec<u8>, UnsupportedArch> {
    let insns = program()?;
    let mut bytes = Vec::with_capacity(insns.len() * 8);
    for insn in insns {
        bytes.extend_from_slice(&insn.code.to_ne_bytes());
        bytes.push(insn.jt);
        bytes.push(insn.jf);
        bytes.extend_from_slice(&insn.k.to_ne_bytes());
    }
    Ok(bytes)
}

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
fn program() -> Result<Vec<Insn>, UnsupportedArch> {
    let nr = |sys: libc::c_long| u32::try_from(sys).expect("syscall numbers are small");
    let mut p = vec![
        stmt(LD_W_ABS, OFFSET_ARCH),
        jump(JEQ_K, ARCH, 1, 0),
        stmt(RET_K, RET_KILL_PROCESS),
        stmt(LD_W_ABS, OFFSET_NR),
    ];
    #[cfg(target_arch = "x86_64")]
    p.extend([
        jump(JGE_K, X32_SYSCALL_BIT, 0, 1),
        stmt(RET_K, RET_KILL_PROCESS),
    ]);
    let eperm = RET_ERRNO | libc::EPERM as u32;
    for sys in denied() {
        p.extend([jump(JEQ_K, nr(sys), 0, 1), stmt(RET_K, eperm)]);
    }
    p.extend([
        jump(JEQ_K, nr(libc::SYS_clone3), 0, 1),
        stmt(RET_K, RET_ERRNO | libc::ENOSYS as u32),
    ]);
    // clone(flags, ...) with a namespace flag; ioctl(fd, TIOCSTI | TIOCLINUX, ...).
    p.extend([
        jump(JEQ_K, nr(libc::SYS_clone), 0, 3),
        stmt(LD_W_ABS, OFFSET_ARG0_LOW),
        jump(JSET_K, CLONE_NAMESPACE_FLAGS, 0, 1),
        stmt(RET_K, eperm),
        stmt(LD_W_ABS, OFFSET_NR),
        jump(JEQ_K, nr(libc::SYS_ioctl), 0, 4),
        stmt(LD_W_ABS, OFFSET_ARG0_LOW + 8),
        jump(JEQ_K, TIOCSTI, 1, 0),
        jump(JEQ_K, TIOCLINUX, 0, 1),
        stmt(RET_K, eperm),
        stmt(RET_K, RET_ALLOW),
    ]);
    Ok(p)
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
fn program() -> Result<Vec<Insn>, UnsupportedArch> {
    Err(UnsupportedArch(std::env::consts::ARCH))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_jump_lands_inside_the_program() {
        let p = program().unwrap();
        assert!(p.len() < 255, "BPF jumps are 8-bit; keep the program short");
        for (i, insn) in p.iter().enumerate() {
            if insn.code & 0x07 == 0x05 {
                assert!(
                    i + 1 + usize::from(insn.jt.max(insn.jf)) < p.len(),
                    "insn {i}"
                );
            }
        }
        let last = p.last().unwrap();
        assert_eq!((last.code, last.k), (RET_K, RET_ALLOW));
        assert_eq!(program_bytes().unwrap().len(), p.len() * 8);
    }
}
