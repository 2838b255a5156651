package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/hrmd/hrmd/daemon/answer"
	"github.com/hrmd/hrmd/daemon/config"
	"github.com/hrmd/hrmd/daemon/spool"
	"github.com/hrmd/hrmd/engine"
)

// folders are every folder hrmd writes with this configuration: the
// spool's (as `hrmd run` creates them) and the TensorRT engine cache when
// TensorRT is configured.
func (d *doctor) folders() []spool.Folder {
	var folders []spool.Folder
	if d.cfg.Queue.Role != config.RoleWorker { // a fleet worker opens no spool
		folders = d.cfg.Layout("").Folders()
	}
	if slices.Contains(d.cfg.ONNXRuntime.Providers, engine.ProviderTensorRT) {
		folders = append(folders, spool.Folder{Key: "tensorrt.engine_cache", Dir: d.cfg.TensorRT.EngineCache})
	}
	return folders
}

// checkFolders checks every folder hrmd writes, with the daemon's own
// checks: there (or creatable), writable, on which filesystem, with how
// much room; and the inbox and the spool on one filesystem.
func (d *doctor) checkFolders() {
	at := map[string]string{} // folder -> where it is or will be created
	for _, f := range d.folders() {
		existing, ok := d.checkFolder(f)
		if ok {
			at[f.Dir] = existing
		}
	}
	inbox, ok1 := at[d.cfg.Inbox]
	work, ok2 := at[d.cfg.Layout("").WorkRoot()]
	if ok1 && ok2 {
		if err := d.cfg.Layout("").CheckSameFilesystem(inbox, work); err != nil {
			d.add(checkFail, answer.Message(err), "")
		}
	}
}

// checkFolder checks one folder and returns where it is, or the folder it
// will be created in.
func (d *doctor) checkFolder(f spool.Folder) (string, bool) {
	existing, err := spool.CheckFolder(f.Dir)
	if existing == "" {
		d.add(checkFail, fmt.Sprintf("%s %s: %v", f.Key, f.Dir, err), "create it, or change "+d.setting(f.Key))
		return "", false
	}
	if err != nil {
		what := fmt.Sprintf("%s %s is not writable by this user: %v", f.Key, f.Dir, err)
		if existing != f.Dir {
			what = fmt.Sprintf("%s %s does not exist and cannot be created in %s: %v", f.Key, f.Dir, existing, err)
		}
		d.add(
			checkFail,
			what,
			"chown hrmd:hrmd it (systemd-tmpfiles --create does, with the shipped hrmd.tmpfiles), or change "+
				d.setting(f.Key),
		)
		return "", false
	}
	var st unix.Statfs_t
	if err := unix.Statfs(existing, &st); err != nil {
		d.add(checkWarn, fmt.Sprintf("%s %s: %v", f.Key, f.Dir, err), "")
		return existing, true
	}
	fsName := filesystemName(st.Type)
	free := st.Bavail * uint64(st.Bsize)
	what := fmt.Sprintf("%s %s writable, %s, %s free", f.Key, f.Dir, fsName, humanBytes(free))
	if existing != f.Dir {
		what = fmt.Sprintf(
			"%s %s will be created (in %s, writable, %s, %s free)",
			f.Key,
			f.Dir,
			existing,
			fsName,
			humanBytes(free),
		)
	}
	switch {
	case free < 64<<20:
		d.add(checkFail, what, "free some space: answers, moved inputs and TensorRT engines need room")
	case free < 1<<30:
		d.add(checkWarn, what, "less than 1 GiB free: a TensorRT engine alone can take hundreds of MB")
	case isNetworkFS(st.Type) && f.Key == "inbox":
		d.add(
			checkWarn,
			what,
			"inotify does not see files written by other machines on a network filesystem; watch.rescan finds them (keep it "+
				"above 0s)",
		)
	default:
		d.add(checkOK, what, "")
	}
	return existing, true
}

// filesystemName names the statfs magic numbers hrmd's folders are likely on.
func filesystemName(magic int64) string {
	names := map[int64]string{
		unix.EXT4_SUPER_MAGIC: "ext4", unix.XFS_SUPER_MAGIC: "xfs", unix.BTRFS_SUPER_MAGIC: "btrfs",
		unix.TMPFS_MAGIC: "tmpfs", unix.OVERLAYFS_SUPER_MAGIC: "overlayfs", unix.NFS_SUPER_MAGIC: "nfs",
		unix.SMB2_SUPER_MAGIC: "smb", unix.CIFS_SUPER_MAGIC: "cifs", unix.FUSE_SUPER_MAGIC: "fuse",
		unix.MSDOS_SUPER_MAGIC: "vfat", unix.F2FS_SUPER_MAGIC: "f2fs", unix.SQUASHFS_MAGIC: "squashfs",
		unix.V9FS_MAGIC: "9p",
	}
	if n, ok := names[magic]; ok {
		return n
	}
	return fmt.Sprintf("filesystem 0x%x", magic)
}

func isNetworkFS(magic int64) bool {
	switch magic {
	case unix.NFS_SUPER_MAGIC, unix.SMB2_SUPER_MAGIC, unix.CIFS_SUPER_MAGIC, unix.FUSE_SUPER_MAGIC, unix.V9FS_MAGIC:
		return true
	}
	return false
}

func humanBytes(n uint64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%d KiB", n>>10)
}

// checkInotify reads the kernel's inotify limits: hrmd needs one instance
// and one watch, but other programs may have used them all.
func (d *doctor) checkInotify() {
	read := func(name string) (int, error) {
		data, err := os.ReadFile(filepath.Join(d.sysroot, "proc/sys/fs/inotify", name))
		if err != nil {
			return 0, err
		}
		return strconv.Atoi(strings.TrimSpace(string(data)))
	}
	watches, err1 := read("max_user_watches")
	instances, err2 := read("max_user_instances")
	if err := errors.Join(err1, err2); err != nil {
		d.add(
			checkWarn,
			"cannot read the limits: "+oneLine(err.Error()),
			"watch.rescan still finds new files if inotify fails",
		)
		return
	}
	what := fmt.Sprintf("max_user_watches %d, max_user_instances %d (hrmd uses 1 of each)", watches, instances)
	if watches < 1 || instances < 1 {
		d.add(checkFail, what, "raise them: sysctl fs.inotify.max_user_instances=128 fs.inotify.max_user_watches=8192")
		return
	}
	d.add(checkOK, what, "")
}
