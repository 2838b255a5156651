package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/coreos/go-systemd/v22/unit"
	"golang.org/x/sys/unix"

	"github.com/hrmd/hrmd/daemon/answer"
	"github.com/hrmd/hrmd/daemon/config"
	"github.com/hrmd/hrmd/daemon/device"
	"github.com/hrmd/hrmd/daemon/fleet/queue"
	"github.com/hrmd/hrmd/daemon/spool"
	"github.com/hrmd/hrmd/engine"
	"github.com/hrmd/hrmd/internal/errcode"
	"github.com/hrmd/hrmd/jetson"
)

// codeDoctor is the error code of a doctor run that found something blocking.
const codeDoctor = errcode.DoctorFoundProblems

// Check outcomes, from fine to blocking.
const (
	checkOK   = "ok"
	checkInfo = "info"
	checkWarn = "warn"
	checkFail = "FAIL" // hrmd cannot run (or cannot run as configured)
)

// finding is one line of the doctor's report.
type finding struct {
	status string
	area   string
	what   string
	fix    string // what to do; empty when nothing is to be done
}

// doctor checks, for one configuration, everything `hrmd run` needs, and
// says how to fix what is wrong. Everything is read below sysroot.
type doctor struct {
	cfg      config.Config
	sysroot  string
	findings []finding
}

func (d *doctor) add(status, area, what, fix string) {
	d.findings = append(d.findings, finding{status, area, what, fix})
}

func cmdDoctor(args []string, stdout, stderr io.Writer) error {
	fl := flag.NewFlagSet("doctor", flag.ContinueOnError)
	fl.SetOutput(io.Discard)
	configPath := fl.String("config", "", "the hrmd.yaml to check (default /etc/hrmd/hrmd.yaml when it exists, else the defaults)")
	sysroot := fl.String("sysroot", "/", "read the device's /proc, /sys, /etc and /dev below this folder")
	deep := fl.Bool("deep", false, "also load the model with the configured providers (a TensorRT build on a first run) and run one step")
	verify := fl.Bool("verify", false, "also read the model's puzzle table (act-v1) through to check its sha256, whatever its stamp says")
	if err := parseNoArgs(fl, args, "doctor"); err != nil {
		return err
	}
	d := &doctor{cfg: config.Default(), sysroot: *sysroot}
	d.checkConfig(*configPath)
	d.checkUser()
	device := d.checkDevice()
	d.checkQueue()
	if d.cfg.Queue.Role == config.RoleGateway {
		// A gateway loads no model and opens no onnxruntime (docs/fleet.md).
		d.add(checkInfo, "model", "queue.role is gateway: no model and no onnxruntime needed here; the workers run the model", "")
		d.checkFolders()
		d.checkSandbox()
		d.checkInotify()
		return d.verdict(stdout)
	}
	ec := d.cfg.Engine()
	ec.Device = device.CacheKey()
	log := cliLogger(stderr, false)
	defer log.Sync()
	rt, err := engine.Open(ec, log)
	if err != nil {
		d.add(checkFail, "library", answer.Message(err), "install onnxruntime ≥ 1.24 (./build.sh deps on a workstation; on a Jetson a TensorRT build in /usr/local/lib, where hrmd finds it: docs/jetson.md), or set onnxruntime.library")
	} else {
		defer rt.Close()
		d.checkLibrary(rt)
		d.checkProviders(rt, device)
	}
	d.checkGPULibraries(rt)
	d.checkGPUNodes(device)
	d.checkFolders()
	d.checkSandbox()
	d.checkInotify()
	bundle := d.checkModel(rt)
	d.checkPuzzleTable(bundle, *verify)
	d.checkEngineCache(rt, bundle)
	if *deep {
		d.checkDeep(rt, bundle, device, stderr, args)
	}
	d.checkInputInvariance(rt, bundle, ec)
	return d.verdict(stdout)
}

// verdict prints the report, and is an error when something blocks running.
func (d *doctor) verdict(stdout io.Writer) error {
	failures := d.report(stdout)
	if failures > 0 {
		return &answer.Error{Code: codeDoctor, Message: fmt.Sprintf("%d problem(s) above keep hrmd from running as configured", failures)}
	}
	return nil
}

// queueProbeTimeout is how long the doctor waits for each queue server.
const queueProbeTimeout = 5 * time.Second

// checkQueue connects to each server of queue.servers as the fleet member
// would, with its credentials and TLS: one that cannot be reached, refuses
// the credentials or has no JetStream keeps it from working. A member
// needs one server, so only all of them out of reach is a FAIL.
func (d *doctor) checkQueue() {
	q := d.cfg.Queue
	if q.Role == "" {
		return
	}
	d.add(checkInfo, "queue", fmt.Sprintf("queue.role %s: a fleet member (docs/fleet.md) on %s", q.Role, strings.Join(q.Servers, ", ")), "")
	type probe struct {
		server string
		err    error
	}
	probes := make(chan probe, len(q.Servers))
	for _, s := range q.Servers {
		go func() { probes <- probe{s, queue.ProbeServer(d.cfg, s, queueProbeTimeout)} }()
	}
	results := map[string]error{}
	for range q.Servers {
		p := <-probes
		results[p.server] = p.err
	}
	status := checkFail
	for _, err := range results {
		if err == nil {
			status = checkWarn // the member works on the others
		}
	}
	for _, s := range q.Servers {
		if err := results[s]; err != nil {
			d.add(status, "queue", fmt.Sprintf("%s: %s", s, oneLine(err.Error())),
				"start nats-server there and check it (docs/fleet.md, Check it); check queue.servers, the firewall (hrmd's unit allows only this machine: IPAddressAllow= in a drop-in), and queue.credentials, queue.nkey and queue.tls_* against the servers' config")
		} else {
			d.add(checkOK, "queue", s+": connected, JetStream answers", "")
		}
	}
}

// report prints the findings and returns how many block running.
func (d *doctor) report(w io.Writer) int {
	failures := 0
	for _, f := range d.findings {
		fmt.Fprintf(w, "%-4s  %-12s %s\n", f.status, f.area, f.what)
		if f.fix != "" {
			fmt.Fprintf(w, "      %-12s fix: %s\n", "", f.fix)
		}
		if f.status == checkFail {
			failures++
		}
	}
	switch failures {
	case 0:
		fmt.Fprintln(w, "hrmd can run with this configuration.")
	default:
		fmt.Fprintf(w, "%d problem(s) keep hrmd from running; fix the FAIL lines above.\n", failures)
	}
	return failures
}

func (d *doctor) checkConfig(path string) {
	explicit := path != ""
	if !explicit {
		path = "/etc/hrmd/hrmd.yaml"
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			d.add(checkInfo, "config", "no "+path+": checking the defaults", "pass --config FILE to check another configuration")
			return
		}
	}
	cfg, err := config.Load(path)
	if err != nil {
		d.add(checkFail, "config", answer.Message(err), "correct the key it names; systemd/hrmd.yaml lists every key with its default")
		return
	}
	d.cfg = cfg
	d.add(checkOK, "config", path, "")
	for _, note := range cfg.Deprecated() {
		d.add(checkWarn, "config", note, "systemd/hrmd.yaml shows every key as it is written now")
	}
}

// checkUser says whose rights the checks use: folders and GPU devices that
// are fine for root can be closed to the service's own user.
func (d *doctor) checkUser() {
	name := strconv.Itoa(os.Geteuid())
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	if name == "hrmd" {
		d.add(checkInfo, "user", "checking as hrmd, the service's user", "")
		return
	}
	d.add(checkInfo, "user", fmt.Sprintf("checking as %s; the service runs as hrmd", name),
		"sudo -u hrmd hrmd doctor --config /etc/hrmd/hrmd.yaml checks with the service's rights")
}

// checkDevice probes the device as `hrmd run` does (device.At), so that the
// engine cache key below is the one the daemon uses.
func (d *doctor) checkDevice() jetson.Device {
	dev, err := device.At(d.sysroot)
	if err != nil {
		d.add(checkWarn, "device", "cannot read every device fact: "+oneLine(err.Error()),
			"the rest of the report holds; the device line in answers lacks what could not be read")
	}
	d.add(checkInfo, "device", dev.String(), "")
	switch {
	case dev.Jetson && l4tMajor(dev.L4T) < 36:
		d.add(checkWarn, "device", fmt.Sprintf("L4T %s: hrmd's arm64 build needs JetPack 6 or later (L4T 36 or later, Ubuntu 22.04, glibc 2.35)", orNone(dev.L4T)),
			"flash JetPack 6 or later (Orin and Thor modules); Xavier and Nano boards cannot run it")
	case dev.Jetson && l4tMajor(dev.L4T) == 36 && jetson.CompareL4T(dev.L4T, gpuL4T) < 0:
		d.checkJetPackGPU(dev)
	}
	return dev
}

// gpuL4T is the oldest Jetson Linux release hrmd can use the GPU on:
// JetPack 6.1 (L4T 36.4: CUDA 12.6, TensorRT 10.3). hrmd needs onnxruntime
// 1.24 or newer (onnxruntime_go v1.27 asks for C API 24), and the Jetson
// builds of those (jetson-containers' packages/ml/onnxruntime/config.py,
// 1.22 and later) are made for CUDA 12.6 only; JetPack 6.0 (L4T 36.3, CUDA
// 12.2, TensorRT 8.6) gets onnxruntime 1.17 there.
const gpuL4T = "36.4"

// checkJetPackGPU warns on JetPack 6.0 and older releases of L4T 36: hrmd
// runs there, but only on the CPU.
func (d *doctor) checkJetPackGPU(dev jetson.Device) {
	release := "L4T " + dev.L4T
	if dev.JetPack != "" {
		release = fmt.Sprintf("JetPack %s (%s)", dev.JetPack, release)
	}
	if cuda, trt := jetson.GPUStack(dev.L4T); cuda != "" {
		release += fmt.Sprintf(", CUDA %s, TensorRT %s", cuda, trt)
	}
	what := fmt.Sprintf("%s: hrmd's GPU path needs JetPack 6.1 or 6.2 (L4T 36.4 or later, CUDA 12.6, TensorRT 10.3): onnxruntime %s or newer, which hrmd needs, is built for Jetson with CUDA 12.6 only (JetPack 6.0's is 1.17), so here hrmd runs on the CPU",
		release, engine.MinORTVersion)
	status := checkInfo
	if slices.Contains(d.cfg.ONNXRuntime.Providers, engine.ProviderTensorRT) || slices.Contains(d.cfg.ONNXRuntime.Providers, engine.ProviderCUDA) {
		status = checkWarn
	}
	d.add(status, "device", what, "upgrade to JetPack 6.1 or 6.2 (docs/jetson.md, JetPack versions), then install a TensorRT onnxruntime")
}

// checkLibrary names the onnxruntime library in use and why it was chosen,
// and a TensorRT build found but passed over.
func (d *doctor) checkLibrary(rt *engine.Runtime) {
	lib := rt.Library()
	d.add(checkOK, "library", fmt.Sprintf("onnxruntime %s at %s, chosen: %s", rt.Version(), lib.Path, lib.Reason), "")
	if lib.PassedOver != "" {
		d.add(checkWarn, "library", "passed over "+oneLine(lib.PassedOver),
			"install onnxruntime ≥ 1.24 built for this JetPack there (docs/jetson.md), or remove it; onnxruntime.library chooses a library yourself")
	}
}

// l4tMajor is the release of an L4T version ("36.3.0": 36), 0 when unknown.
func l4tMajor(version string) int {
	major, _, _ := strings.Cut(version, ".")
	n, err := strconv.Atoi(major)
	if err != nil {
		return 0
	}
	return n
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// checkProviders probes each configured provider, in the config's order,
// the way a model load does: the first available one takes the model.
func (d *doctor) checkProviders(rt *engine.Runtime, device jetson.Device) {
	status := map[string]engine.ProviderStatus{}
	for _, p := range rt.Providers() {
		status[p.Name] = p
	}
	first := ""
	for _, name := range d.cfg.ONNXRuntime.Providers {
		p := status[name]
		switch {
		case p.Available && p.Name == engine.ProviderTensorRT:
			d.add(checkOK, "provider", p.ORTName+" available"+loadedTensorRT(rt), "")
		case p.Available:
			d.add(checkOK, "provider", p.ORTName+" available", "")
			if first == "" {
				first = p.Name
			}
		case p.Name == d.cfg.ONNXRuntime.Require:
			d.add(checkFail, "provider", fmt.Sprintf("%s unavailable and onnxruntime.require is %s: %s", p.ORTName, p.Name, oneLine(p.Reason)),
				"install an onnxruntime built with "+p.ORTName+" and its libraries (docs/jetson.md), or remove onnxruntime.require")
		default:
			d.add(checkInfo, "provider", fmt.Sprintf("%s unavailable (skipped): %s", p.ORTName, oneLine(p.Reason)), "")
		}
	}
	if first == "" {
		first = engine.ProviderCPU // onnxruntime's last resort
	}
	what := "models run on " + engine.ORTProviderName(first)
	switch {
	case first == engine.ProviderCPU && device.Jetson:
		d.add(checkWarn, "provider", what+" although this is a Jetson: about 10-50x slower than TensorRT",
			"install a TensorRT-enabled onnxruntime ≥ 1.24 into /usr/local/lib, where hrmd finds it, or set onnxruntime.library (docs/jetson.md)")
	default:
		d.add(checkOK, "provider", what, "")
	}
}

// loadedTensorRT names the TensorRT library the provider loaded, whose
// version names the engine cache's folders.
func loadedTensorRT(rt *engine.Runtime) string {
	v, err := rt.TensorRTVersion()
	if err != nil {
		return " (which TensorRT it loaded is unknown: " + oneLine(err.Error()) + ")"
	}
	return " (TensorRT " + v + " loaded)"
}

// checkGPULibraries looks for what the GPU providers load: onnxruntime's
// provider libraries beside it, and NVIDIA's from JetPack or CUDA.
func (d *doctor) checkGPULibraries(rt *engine.Runtime) {
	wantTRT := slices.Contains(d.cfg.ONNXRuntime.Providers, engine.ProviderTensorRT)
	wantCUDA := slices.Contains(d.cfg.ONNXRuntime.Providers, engine.ProviderCUDA)
	if !wantTRT && !wantCUDA {
		return
	}
	dirs := []string{"usr/lib/aarch64-linux-gnu", "usr/lib/aarch64-linux-gnu/nvidia", "usr/lib/x86_64-linux-gnu",
		"usr/local/cuda/lib64", "usr/local/cuda/targets/aarch64-linux/lib", "usr/lib"}
	var search []string
	if rt != nil {
		search = append(search, filepath.Dir(rt.LibraryPath()))
	}
	for _, p := range filepath.SplitList(os.Getenv("LD_LIBRARY_PATH")) {
		if p != "" {
			search = append(search, p)
		}
	}
	for _, dir := range dirs {
		search = append(search, filepath.Join(d.sysroot, dir))
	}
	find := func(pattern string) string {
		for _, dir := range search {
			if m, _ := filepath.Glob(filepath.Join(dir, pattern)); len(m) > 0 {
				return m[0]
			}
		}
		return ""
	}
	var missing []string
	check := func(provider, pattern string) {
		if (provider == engine.ProviderTensorRT && !wantTRT) || (provider == engine.ProviderCUDA && !wantCUDA && !wantTRT) {
			return
		}
		if path := find(pattern); path != "" {
			d.add(checkOK, "gpu library", path, "")
		} else {
			missing = append(missing, pattern)
		}
	}
	if rt != nil {
		check(engine.ProviderTensorRT, "libonnxruntime_providers_tensorrt.so")
		check(engine.ProviderCUDA, "libonnxruntime_providers_cuda.so")
		check(engine.ProviderCUDA, "libonnxruntime_providers_shared.so")
	}
	// NVIDIA's libraries that the provider libraries load.
	check(engine.ProviderTensorRT, "libnvinfer.so*")
	check(engine.ProviderTensorRT, "libnvonnxparser.so*")
	check(engine.ProviderCUDA, "libcudart.so*")
	check(engine.ProviderCUDA, "libcublas.so*")
	check(engine.ProviderCUDA, "libcudnn.so*")
	if len(missing) > 0 {
		d.add(checkInfo, "gpu library", "not found: "+strings.Join(missing, ", "),
			"for TensorRT and CUDA: JetPack's CUDA, cuDNN and TensorRT, and an onnxruntime built with them (docs/jetson.md)")
	}
}

// checkGPUNodes checks the GPU device nodes this user must open.
func (d *doctor) checkGPUNodes(device jetson.Device) {
	nodes := jetson.NewFS(d.sysroot).GPUDeviceNodes()
	if len(nodes) == 0 {
		status := checkInfo
		if device.Jetson {
			status = checkWarn
		}
		d.add(status, "gpu devices", "no GPU device nodes (/dev/nvmap, /dev/nvhost-*, /dev/nvidia0): CPU only", "")
		return
	}
	// Only those CUDA opens by name need to be open to this user: the
	// others may stay closed (jetson.FS.GPUNodesOpened says why).
	opened := jetson.NewFS(d.sysroot).GPUNodesOpened()
	var closed []string
	for _, n := range opened {
		if err := unix.Access(n, unix.R_OK|unix.W_OK); err != nil {
			closed = append(closed, n)
		}
	}
	if len(closed) == 0 {
		d.add(checkOK, "gpu devices", fmt.Sprintf("the GPU device nodes CUDA opens are readable and writable: %s", strings.Join(opened, ", ")), "")
		return
	}
	status := checkWarn
	if d.cfg.ONNXRuntime.Require == engine.ProviderTensorRT || d.cfg.ONNXRuntime.Require == engine.ProviderCUDA {
		status = checkFail
	}
	d.add(status, "gpu devices", "this user cannot open "+strings.Join(closed, ", "),
		"the GPU nodes belong to the video and render groups: usermod -aG video,render USER (the unit has SupplementaryGroups=video render)")
}

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
			d.add(checkFail, "folder", answer.Message(err), "")
		}
	}
}

// checkFolder checks one folder and returns where it is, or the folder it
// will be created in.
func (d *doctor) checkFolder(f spool.Folder) (string, bool) {
	existing, err := spool.CheckFolder(f.Dir)
	if existing == "" {
		d.add(checkFail, "folder", fmt.Sprintf("%s %s: %v", f.Key, f.Dir, err), "create it, or set "+f.Key+" in hrmd.yaml")
		return "", false
	}
	if err != nil {
		what := fmt.Sprintf("%s %s is not writable by this user: %v", f.Key, f.Dir, err)
		if existing != f.Dir {
			what = fmt.Sprintf("%s %s does not exist and cannot be created in %s: %v", f.Key, f.Dir, existing, err)
		}
		d.add(checkFail, "folder", what, "chown hrmd:hrmd it (systemd-tmpfiles --create does, with the shipped hrmd.tmpfiles), or set "+f.Key+" in hrmd.yaml")
		return "", false
	}
	var st unix.Statfs_t
	if err := unix.Statfs(existing, &st); err != nil {
		d.add(checkWarn, "folder", fmt.Sprintf("%s %s: %v", f.Key, f.Dir, err), "")
		return existing, true
	}
	fsName := filesystemName(st.Type)
	free := st.Bavail * uint64(st.Bsize)
	what := fmt.Sprintf("%s %s writable, %s, %s free", f.Key, f.Dir, fsName, humanBytes(free))
	if existing != f.Dir {
		what = fmt.Sprintf("%s %s will be created (in %s, writable, %s, %s free)", f.Key, f.Dir, existing, fsName, humanBytes(free))
	}
	switch {
	case free < 64<<20:
		d.add(checkFail, "folder", what, "free some space: answers, moved inputs and TensorRT engines need room")
	case free < 1<<30:
		d.add(checkWarn, "folder", what, "less than 1 GiB free: a TensorRT engine alone can take hundreds of MB")
	case isNetworkFS(st.Type) && f.Key == "inbox":
		d.add(checkWarn, "folder", what, "inotify does not see files written by other machines on a network filesystem; watch.rescan finds them (keep it above 0s)")
	default:
		d.add(checkOK, "folder", what, "")
	}
	return existing, true
}

// unitSandbox is what an installed hrmd.service (and its drop-ins) says
// about the folders the service may write.
type unitSandbox struct {
	unit           string
	strict         bool     // ProtectSystem=strict: only ReadWritePaths= are writable
	readWritePaths []string // ReadWritePaths=
	privateTmp     bool
	protectHome    bool
	ipAddressDeny  []string // IPAddressDeny=
	ipAddressAllow []string // IPAddressAllow=
}

// readUnitSandbox reads the installed unit below the sysroot, then its
// drop-ins in name order as systemd applies them; ok is false when hrmd is
// not installed as a service there.
func (d *doctor) readUnitSandbox() (sb unitSandbox, ok bool, err error) {
	for _, dir := range []string{"etc/systemd/system", "usr/lib/systemd/system", "lib/systemd/system"} {
		path := filepath.Join(d.sysroot, dir, "hrmd.service")
		if _, err := os.Stat(path); err != nil {
			continue
		}
		sb.unit = path
		dropIns, _ := filepath.Glob(filepath.Join(d.sysroot, "etc/systemd/system/hrmd.service.d/*.conf"))
		slices.Sort(dropIns)
		for _, file := range append([]string{path}, dropIns...) {
			if err := sb.read(file); err != nil {
				return sb, true, err
			}
		}
		return sb, true, nil
	}
	return sb, false, nil
}

// read applies one unit file's [Service] settings over what came before.
func (sb *unitSandbox) read(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	opts, err := unit.DeserializeOptions(f)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	yes := func(v string) bool { return slices.Contains([]string{"yes", "true", "on", "1"}, v) }
	for _, o := range opts {
		if o.Section != "Service" {
			continue
		}
		v := strings.TrimSpace(o.Value)
		switch o.Name {
		case "ProtectSystem":
			sb.strict = v == "strict"
		case "ReadWritePaths":
			if v == "" { // an empty assignment resets the list
				sb.readWritePaths = nil
			}
			for _, p := range strings.Fields(v) {
				sb.readWritePaths = append(sb.readWritePaths, strings.TrimLeft(p, "-+"))
			}
		case "IPAddressDeny":
			sb.ipAddressDeny = appendList(sb.ipAddressDeny, v)
		case "IPAddressAllow":
			sb.ipAddressAllow = appendList(sb.ipAddressAllow, v)
		case "PrivateTmp":
			sb.privateTmp = yes(v)
		case "ProtectHome":
			sb.protectHome = yes(v) || v == "read-only" || v == "tmpfs"
		}
	}
	return nil
}

// appendList adds a list setting's values; an empty one resets the list, as
// in systemd.
func appendList(list []string, value string) []string {
	if value == "" {
		return nil
	}
	return append(list, strings.Fields(value)...)
}

// checkSandbox checks the folders against the installed unit's sandbox:
// `sudo -u hrmd hrmd doctor` may write where the service, under
// ProtectSystem=strict, may not.
func (d *doctor) checkSandbox() {
	sb, ok, err := d.readUnitSandbox()
	if !ok {
		return
	}
	if err != nil {
		d.add(checkWarn, "sandbox", "cannot read the installed unit: "+oneLine(err.Error()), "")
		return
	}
	below := func(dir, parent string) bool {
		rel, err := filepath.Rel(parent, dir)
		return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
	}
	problems := 0
	checked := map[string]bool{} // one check per key
	for _, f := range d.folders() {
		if checked[f.Key] {
			continue
		}
		checked[f.Key] = true
		if f.Key == "spool" {
			f.Dir = d.cfg.Spool // its work/, done/ and failed/ are writable with it, or not at all
		}
		switch {
		case sb.protectHome && below(f.Dir, "/home"):
			d.add(checkFail, "sandbox", fmt.Sprintf("%s %s is under /home, which %s hides from the service (ProtectHome)", f.Key, f.Dir, sb.unit),
				"move it below /var/lib/hrmd, or override ProtectHome in a drop-in (systemctl edit hrmd)")
		case sb.privateTmp && below(f.Dir, "/tmp"):
			d.add(checkWarn, "sandbox", fmt.Sprintf("%s %s is under /tmp: the service has a private /tmp (PrivateTmp), so nobody else sees this folder", f.Key, f.Dir),
				"move it below /var/lib/hrmd")
		case sb.strict && !slices.ContainsFunc(sb.readWritePaths, func(p string) bool { return below(f.Dir, p) }):
			d.add(checkFail, "sandbox", fmt.Sprintf("%s %s is read-only for the service: %s has ProtectSystem=strict and ReadWritePaths=%s",
				f.Key, f.Dir, sb.unit, strings.Join(sb.readWritePaths, " ")),
				"add it in a drop-in: sudo systemctl edit hrmd, then [Service] ReadWritePaths="+f.Dir)
		default:
			continue
		}
		problems++
	}
	if problems == 0 {
		d.add(checkOK, "sandbox", "the folders are writable inside "+sb.unit+"'s sandbox", "")
	}
	d.checkListenSandbox(sb)
}

// checkListenSandbox warns when http.listen takes connections from other
// machines that the unit's IP filter drops: the listener starts, and
// Prometheus elsewhere gets only timeouts.
func (d *doctor) checkListenSandbox(sb unitSandbox) {
	listen := d.cfg.HTTP.Listen
	if listen == "" || isLoopback(listen) {
		return
	}
	denyAll := slices.ContainsFunc(sb.ipAddressDeny, func(a string) bool { return a == "any" || a == "0.0.0.0/0" || a == "::/0" })
	if !denyAll || slices.ContainsFunc(sb.ipAddressAllow, func(a string) bool { return !isLoopback(a) }) {
		return // no filter, or one that lets some other machines in
	}
	filter := "IPAddressDeny=" + strings.Join(sb.ipAddressDeny, " ")
	if len(sb.ipAddressAllow) > 0 {
		filter += " and IPAddressAllow=" + strings.Join(sb.ipAddressAllow, " ")
	}
	d.add(checkWarn, "sandbox", fmt.Sprintf("http.listen %s takes connections from other machines, but %s has %s: only this machine reaches /metrics",
		listen, sb.unit, filter),
		"let the scrapers in with a drop-in: sudo systemctl edit hrmd, then [Service] IPAddressAllow=192.0.2.10 (their addresses or network); or set http.listen to 127.0.0.1:9464")
}

// isLoopback says whether a listen address (host:port), an address or a
// prefix is this machine only: localhost, 127.0.0.0/8, ::1. A name other
// than localhost, or no host (every interface), is not.
func isLoopback(s string) bool {
	if host, _, err := net.SplitHostPort(s); err == nil {
		s = host
	}
	if s == "localhost" {
		return true
	}
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked().Addr().IsLoopback()
	}
	a, err := netip.ParseAddr(s)
	return err == nil && a.IsLoopback()
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
		d.add(checkWarn, "inotify", "cannot read the limits: "+oneLine(err.Error()), "watch.rescan still finds new files if inotify fails")
		return
	}
	what := fmt.Sprintf("max_user_watches %d, max_user_instances %d (hrmd uses 1 of each)", watches, instances)
	if watches < 1 || instances < 1 {
		d.add(checkFail, "inotify", what, "raise them: sysctl fs.inotify.max_user_instances=128 fs.inotify.max_user_watches=8192")
		return
	}
	d.add(checkOK, "inotify", what, "")
}

// checkModel loads the bundle and, with a library, reads its graphs.
func (d *doctor) checkModel(rt *engine.Runtime) *engine.Bundle {
	b, err := engine.LoadBundle(d.cfg.Model)
	if err != nil {
		d.add(checkFail, "model", fmt.Sprintf("model %s: %s", d.cfg.Model, oneLine(answer.Message(err))),
			"point model: at a readable bundle folder (hrm.yaml, init.onnx, step.onnx): engine/export/hrm_export.py makes one, engine/models/demo is one")
		return nil
	}
	if rt != nil {
		if err := rt.CheckBundle(b); err != nil {
			d.add(checkFail, "model", fmt.Sprintf("model %s: %s", d.cfg.Model, oneLine(answer.Message(err))), "export the bundle again (engine/export/hrm_export.py)")
			return nil
		}
	}
	d.add(checkOK, "model", fmt.Sprintf("%s (%s, %dx%d grid, sha256 %s) at %s", b.Manifest.Name, b.Manifest.Family,
		b.Manifest.Grid, b.Manifest.Grid, b.SHA256[:12], d.cfg.Model), "")
	return b
}

// checkPuzzleTable reports an act-v1 bundle's puzzle table and whether its
// sha256 is known good: a load checks it once and remembers (a stamp in
// the engine cache folder); --verify reads it through anyway.
func (d *doctor) checkPuzzleTable(b *engine.Bundle, verify bool) {
	if b == nil || b.Manifest.PuzzleEmbeddings == nil {
		return
	}
	p := b.Manifest.PuzzleEmbeddings
	what := fmt.Sprintf("%s: %d puzzle rows of %d values (%s, memory-mapped)", b.Path(p.File), b.Puzzles.Len(), b.Puzzles.Width(),
		humanBytes(uint64(p.Shape[0]*p.Shape[1]*4)))
	read, err := engine.VerifyPuzzleTable(b, engine.StampDir(d.cfg.TensorRT.EngineCache), verify)
	switch {
	case err != nil:
		d.add(checkFail, "puzzle table", what+": "+oneLine(answer.Message(err)), "copy the bundle again, or export it again (engine/export/hrm_export.py --family act-v1)")
	case read:
		d.add(checkOK, "puzzle table", what+"; sha256 checked now", "")
	default:
		d.add(checkOK, "puzzle table", what+"; sha256 checked before and the file unchanged since (--verify reads it again)", "")
	}
}

// checkInputInvariance runs the Agent Zero probe on the CPU (so that the
// doctor never builds a TensorRT engine): a model that gives one answer to
// every probe grid has learnt nothing about its input.
func (d *doctor) checkInputInvariance(rt *engine.Runtime, b *engine.Bundle, ec engine.Config) {
	if rt == nil || b == nil {
		return
	}
	cpu := ec
	cpu.Providers, cpu.Require = []string{engine.ProviderCPU}, ""
	if err := rt.Reconfigure(cpu); err != nil {
		d.add(checkWarn, "input probe", "cannot run it: "+oneLine(answer.Message(err)), "")
		return
	}
	// The batch the daemon would run on the CPU, so the probe runs as there.
	m, err := rt.LoadModel(b, d.cfg.ModelOptions())
	if err != nil {
		d.add(checkFail, "input probe", "the model does not load on the CPU: "+oneLine(answer.Message(err)), "export the bundle again (engine/export/hrm_export.py)")
		return
	}
	defer m.Close()
	invariant, err := engine.ProbeInputInvariance(context.Background(), m, d.cfg.RunOptions())
	switch {
	case err != nil:
		d.add(checkFail, "input probe", "the model does not run: "+oneLine(answer.Message(err)), "export the bundle again (engine/export/hrm_export.py)")
	case !invariant:
		d.add(checkOK, "input probe", fmt.Sprintf("the model's answers depend on its input (%d probe grids, %d answers)", engine.ProbeCount, engine.ProbeCount), "")
	case d.cfg.Inference.InputInvariant == answer.InvariantRefuse:
		d.add(checkFail, "input probe", fmt.Sprintf("the model gives one identical answer to %d different grids: it ignores its input, and inference.input_invariant is refuse", engine.ProbeCount),
			"use a model that learnt its task (hrmd eval shows whether it beats the all-zeros baseline)")
	default:
		d.add(checkWarn, "input probe", fmt.Sprintf("the model gives one identical answer to %d different grids: it ignores its input; every answer will be flagged model_input_invariant", engine.ProbeCount),
			"use a model that learnt its task; inference.input_invariant: refuse keeps hrmd from serving such a model")
	}
}

// engineBuilt reports the engine in use and its fp16 check's stored verdict.
func (d *doctor) engineBuilt(e engine.EngineCacheEntry) {
	built := fmt.Sprintf("%s: built (%d engines, %s)", e.Path, e.Engines, humanBytes(uint64(e.Bytes)))
	if e.Record != nil && e.Record.TensorRT != "" {
		built = fmt.Sprintf("%s: built by TensorRT %s (%d engines, %s)", e.Path, e.Record.TensorRT, e.Engines, humanBytes(uint64(e.Bytes)))
	}
	switch {
	case e.Record == nil || e.Record.Check == nil:
		d.add(checkOK, "engine cache", built+"; not checked against the bundle's fp32 reference", "")
	case e.Record.Check.Passed:
		d.add(checkOK, "engine cache", built+"; "+e.Record.Check.Summary(), "")
	case d.cfg.TensorRT.FP16Check == engine.CheckOff:
		d.add(checkWarn, "engine cache", built+"; "+e.Record.Check.Summary()+"; tensorrt.fp16_check is off, so hrmd uses it anyway",
			"tensorrt.fp16_check: fallback runs an fp32 engine instead")
	default:
		d.add(checkWarn, "engine cache", built+"; "+e.Record.Check.Summary()+"; hrmd does not use it",
			"tensorrt.fp16_check: fallback runs an fp32 engine instead; tensorrt.precision: fp32 builds only that")
	}
}

// checkEngineCache says whether this model's TensorRT engine is built and
// lists the folders no current combination uses any more.
func (d *doctor) checkEngineCache(rt *engine.Runtime, b *engine.Bundle) {
	if !slices.Contains(d.cfg.ONNXRuntime.Providers, engine.ProviderTensorRT) {
		return
	}
	root := d.cfg.TensorRT.EngineCache
	entries, err := engine.ListEngineCache(root)
	if err != nil {
		d.add(checkWarn, "engine cache", err.Error(), "let the hrmd user read and write it (chown -R hrmd:hrmd "+root+")")
		return
	}
	current := d.currentEngines(rt, b, entries)
	seen := map[string]bool{}
	for _, e := range entries {
		inUse := slices.Contains(current, e.Name)
		seen[e.Name] = true
		switch {
		case inUse && e.Engines > 0:
			d.engineBuilt(e)
		case e.Broken:
			d.add(checkWarn, "engine cache", fmt.Sprintf("%s: moved aside because onnxruntime could not read the engine back and its files were not as built (%s); for 24 hours after that, another such engine of this model makes hrmd fall back instead of building it again",
				e.Path, humanBytes(uint64(e.Bytes))), "look at it if you like, then rm -r "+e.Path)
		case inUse:
			d.add(checkInfo, "engine cache", e.Path+": no engine built yet; the next start builds it (minutes on a Jetson)", "")
		case len(current) == 0:
			// Without the library or the model, which folder is in use is
			// unknown: nothing is called old.
			d.add(checkInfo, "engine cache", fmt.Sprintf("%s (%s)", e.Path, humanBytes(uint64(e.Bytes))), "")
		default:
			d.add(checkInfo, "engine cache", fmt.Sprintf("old: %s (%s, last written %s) is for another model, library, device or build",
				e.Path, humanBytes(uint64(e.Bytes)), e.Modified.Format("2006-01-02")), "rm -r "+e.Path+" frees it")
		}
	}
	for _, c := range current {
		if !seen[c] {
			d.add(checkInfo, "engine cache", filepath.Join(root, c)+": not built yet; the first start with TensorRT builds it (minutes on a Jetson)", "")
		}
	}
}

// currentEngines names the cache folders this configuration uses: the
// engine of the configured precision and, when that is an fp16 or bf16
// engine that failed its check and tensorrt.fp16_check falls back, the fp32
// engine that replaced it. None without the library or the model.
func (d *doctor) currentEngines(rt *engine.Runtime, b *engine.Bundle, entries []engine.EngineCacheEntry) []string {
	if rt == nil || b == nil {
		return nil
	}
	batch := d.cfg.ModelOptions().MaxBatch
	prec := d.cfg.TensorRT.EnginePrecision()
	first := filepath.Base(rt.EngineCacheDir(b, prec, batch))
	if prec == engine.PrecisionFP32 {
		return []string{first}
	}
	for _, e := range entries {
		if e.Name == first && e.Record != nil && e.Record.Check != nil && !e.Record.Check.Passed && d.cfg.TensorRT.FP16Check == engine.CheckFallback {
			return []string{first, filepath.Base(rt.EngineCacheDir(b, engine.PrecisionFP32, batch))}
		}
	}
	return []string{first}
}
