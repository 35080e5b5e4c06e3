package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
	"go.yaml.in/yaml/v3"

	"github.com/engram-bench/engram-bench/workloads"
)

// The subset of the Kubernetes API the manifests in scripts/k8s use. The
// manifests are decoded strictly (unknown fields are errors), so a field
// misspelt in a manifest, or one these types do not know, fails the test.
type k8sObject struct {
	APIVersion string            `yaml:"apiVersion"`
	Kind       string            `yaml:"kind"`
	Metadata   k8sMeta           `yaml:"metadata"`
	Spec       yaml.Node         `yaml:"spec"`
	Data       map[string]string `yaml:"data"`
}

type k8sMeta struct {
	Name   string            `yaml:"name"`
	Labels map[string]string `yaml:"labels"`
}

type k8sJobSpec struct {
	CompletionMode string         `yaml:"completionMode"`
	Completions    *int           `yaml:"completions"`
	Parallelism    *int           `yaml:"parallelism"`
	BackoffLimit   *int           `yaml:"backoffLimit"`
	Template       k8sPodTemplate `yaml:"template"`
}

type k8sPodTemplate struct {
	Metadata k8sMeta    `yaml:"metadata"`
	Spec     k8sPodSpec `yaml:"spec"`
}

type k8sPodSpec struct {
	RestartPolicy   string `yaml:"restartPolicy"`
	SecurityContext struct {
		FSGroup int `yaml:"fsGroup"`
	} `yaml:"securityContext"`
	TopologySpreadConstraints []struct {
		MaxSkew           int    `yaml:"maxSkew"`
		TopologyKey       string `yaml:"topologyKey"`
		WhenUnsatisfiable string `yaml:"whenUnsatisfiable"`
		LabelSelector     struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		} `yaml:"labelSelector"`
	} `yaml:"topologySpreadConstraints"`
	Containers []k8sContainer `yaml:"containers"`
	Volumes    []k8sVolume    `yaml:"volumes"`
}

type k8sContainer struct {
	Name            string   `yaml:"name"`
	Image           string   `yaml:"image"`
	ImagePullPolicy string   `yaml:"imagePullPolicy"`
	Command         []string `yaml:"command"`
	Args            []string `yaml:"args"`
	Env             []k8sEnv `yaml:"env"`
	Resources       struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
	VolumeMounts []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
		ReadOnly  bool   `yaml:"readOnly"`
	} `yaml:"volumeMounts"`
}

type k8sEnv struct {
	Name      string  `yaml:"name"`
	Value     *string `yaml:"value"`
	ValueFrom *struct {
		FieldRef *struct {
			FieldPath string `yaml:"fieldPath"`
		} `yaml:"fieldRef"`
		ConfigMapKeyRef *struct {
			Name     string `yaml:"name"`
			Key      string `yaml:"key"`
			Optional bool   `yaml:"optional"`
		} `yaml:"configMapKeyRef"`
	} `yaml:"valueFrom"`
}

type k8sVolume struct {
	Name      string `yaml:"name"`
	ConfigMap *struct {
		Name string `yaml:"name"`
	} `yaml:"configMap"`
	PersistentVolumeClaim *struct {
		ClaimName string `yaml:"claimName"`
	} `yaml:"persistentVolumeClaim"`
	EmptyDir *struct{} `yaml:"emptyDir"`
}

type k8sPVCSpec struct {
	AccessModes []string `yaml:"accessModes"`
	Resources   struct {
		Requests map[string]string `yaml:"requests"`
	} `yaml:"resources"`
}

const k8sDir = "../../scripts/k8s"

// fataler is what the manifest helpers need of a test (testing.TB, or a
// testscript through scriptFataler).
type fataler interface {
	Helper()
	Fatalf(format string, args ...any)
}

type scriptFataler struct{ ts *testscript.TestScript }

func (scriptFataler) Helper()                             {}
func (f scriptFataler) Fatalf(format string, args ...any) { f.ts.Fatalf(format, args...) }

// readManifest decodes the one object in scripts/k8s/name strictly.
func readManifest(t fataler, name string) k8sObject {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(k8sDir, name))
	if err != nil {
		t.Fatalf("%v", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var o k8sObject
	if err := dec.Decode(&o); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	var extra k8sObject
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		t.Fatalf("%s: want one object, found more (%v)", name, err)
	}
	if o.APIVersion == "" || o.Kind == "" || o.Metadata.Name == "" || o.Metadata.Labels["app.kubernetes.io/name"] != "engram-bench" {
		t.Fatalf("%s: apiVersion %q kind %q name %q labels %v", name, o.APIVersion, o.Kind, o.Metadata.Name, o.Metadata.Labels)
	}
	return o
}

func decodeSpec(t fataler, name string, o k8sObject, into any) {
	t.Helper()
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	if err := enc.Encode(&o.Spec); err != nil {
		t.Fatalf("%v", err)
	}
	dec := yaml.NewDecoder(&b)
	dec.KnownFields(true)
	if err := dec.Decode(into); err != nil {
		t.Fatalf("%s: spec: %v", name, err)
	}
}

// podOf returns the pod spec of a Job or Pod manifest.
func podOf(t fataler, name string) (k8sObject, *k8sJobSpec, k8sPodSpec) {
	t.Helper()
	o := readManifest(t, name)
	switch o.Kind {
	case "Job":
		if o.APIVersion != "batch/v1" {
			t.Fatalf("%s: Job apiVersion %q, want batch/v1", name, o.APIVersion)
		}
		var js k8sJobSpec
		decodeSpec(t, name, o, &js)
		return o, &js, js.Template.Spec
	case "Pod":
		var ps k8sPodSpec
		decodeSpec(t, name, o, &ps)
		return o, nil, ps
	}
	t.Fatalf("%s: kind %s, want Job or Pod", name, o.Kind)
	return o, nil, k8sPodSpec{}
}

func envOf(c k8sContainer, name string) *k8sEnv {
	for i := range c.Env {
		if c.Env[i].Name == name {
			return &c.Env[i]
		}
	}
	return nil
}

// mountOf returns the volume mounted at path and its source.
func mountOf(t fataler, file string, p k8sPodSpec, c k8sContainer, path string) k8sVolume {
	t.Helper()
	for _, m := range c.VolumeMounts {
		if m.MountPath == path {
			for _, v := range p.Volumes {
				if v.Name == m.Name {
					return v
				}
			}
			t.Fatalf("%s: volume %q mounted at %s is not defined", file, m.Name, path)
		}
	}
	t.Fatalf("%s: container %s mounts nothing at %s", file, c.Name, path)
	return k8sVolume{}
}

// script returns the shell script a container runs (/bin/sh -c SCRIPT).
func script(t fataler, file string, c k8sContainer) string {
	t.Helper()
	if len(c.Command) != 2 || c.Command[0] != "/bin/sh" || c.Command[1] != "-c" || len(c.Args) != 1 {
		t.Fatalf("%s: container %s: command %q args %d, want /bin/sh -c SCRIPT", file, c.Name, c.Command, len(c.Args))
	}
	return c.Args[0]
}

// flagsAfter returns the --flags of the engram-bench SUBCOMMAND invocation
// in a shell script (its continuation lines included).
func flagsAfter(t fataler, sh, sub string) []string {
	t.Helper()
	i := strings.Index(sh, "engram-bench "+sub+" ")
	if i < 0 {
		t.Fatalf("script runs no `engram-bench %s`", sub)
	}
	line := sh[i:]
	var cmd strings.Builder
	for _, l := range strings.SplitAfter(line, "\n") {
		cmd.WriteString(l)
		if !strings.HasSuffix(strings.TrimRight(l, "\n"), "\\") {
			break
		}
	}
	var flags []string
	for _, m := range regexp.MustCompile(`(?:^|\s|")--([a-z][a-z-]*)`).FindAllStringSubmatch(cmd.String(), -1) {
		flags = append(flags, m[1])
	}
	return flags
}

// The manifests in scripts/k8s have the shape a distributed run needs:
// an Indexed Job whose completion index is the shard, N written the same in
// completions, parallelism and SHARDS, the start time and run id from one
// ConfigMap (which docs/distributed.md creates with every key the pods
// read), the scenario from another (a valid scenario), results on one
// shared volume that the merge Job reads, and engram-bench flags that exist.
func TestK8sManifests(t *testing.T) {
	root := newRoot(t.Context(), io.Discard, io.Discard)
	cmdFlags := func(sub string) func(string) bool {
		c, _, err := root.Find([]string{sub})
		if err != nil {
			t.Fatal(err)
		}
		return func(f string) bool { return c.Flags().Lookup(f) != nil }
	}

	// The scenario ConfigMap holds a valid scenario.
	cm := readManifest(t, "scenario-configmap.yaml")
	if cm.Kind != "ConfigMap" || cm.APIVersion != "v1" {
		t.Fatalf("scenario-configmap.yaml: %s %s", cm.APIVersion, cm.Kind)
	}
	if _, err := workloads.Parse("scenario.toml", []byte(cm.Data["scenario.toml"])); err != nil {
		t.Fatalf("scenario-configmap.yaml: data.scenario.toml: %v", err)
	}

	// The results volume can be written by many nodes at once.
	pvc := readManifest(t, "results-pvc.yaml")
	var ps k8sPVCSpec
	decodeSpec(t, "results-pvc.yaml", pvc, &ps)
	if pvc.Kind != "PersistentVolumeClaim" || len(ps.AccessModes) != 1 || ps.AccessModes[0] != "ReadWriteMany" || ps.Resources.Requests["storage"] == "" {
		t.Fatalf("results-pvc.yaml: %s %+v", pvc.Kind, ps)
	}

	runKeys := map[string]bool{} // keys of engram-bench-run the pods need

	// The shards: an Indexed Job, index → shard.
	_, job, pod := podOf(t, "shards-job.yaml")
	if job.CompletionMode != "Indexed" || job.Completions == nil || job.Parallelism == nil || job.BackoffLimit == nil {
		t.Fatalf("shards-job.yaml: completionMode %q completions %v parallelism %v backoffLimit %v", job.CompletionMode, job.Completions, job.Parallelism, job.BackoffLimit)
	}
	if *job.Parallelism != *job.Completions || *job.BackoffLimit != 0 || pod.RestartPolicy != "Never" {
		t.Errorf("shards-job.yaml: parallelism %d, completions %d (every shard must run at once), backoffLimit %d, restartPolicy %s (a retried shard cannot rejoin the aligned start)",
			*job.Parallelism, *job.Completions, *job.BackoffLimit, pod.RestartPolicy)
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("shards-job.yaml: %d containers", len(pod.Containers))
	}
	c := pod.Containers[0]
	idx := envOf(c, "SHARD_INDEX")
	if idx == nil || idx.ValueFrom == nil || idx.ValueFrom.FieldRef == nil || idx.ValueFrom.FieldRef.FieldPath != "metadata.annotations['batch.kubernetes.io/job-completion-index']" {
		t.Errorf("shards-job.yaml: SHARD_INDEX must come from the completion index annotation: %+v", idx)
	}
	n := envOf(c, "SHARDS")
	if n == nil || n.Value == nil || *n.Value != strconv.Itoa(*job.Completions) {
		got := "unset"
		if n != nil && n.Value != nil {
			got = strconv.Quote(*n.Value)
		}
		t.Errorf("shards-job.yaml: SHARDS is %s, want completions %d", got, *job.Completions)
	}
	for _, name := range []string{"RUN_ID", "START_AT", "DRIVER"} {
		e := envOf(c, name)
		if e == nil || e.ValueFrom == nil || e.ValueFrom.ConfigMapKeyRef == nil || e.ValueFrom.ConfigMapKeyRef.Name != "engram-bench-run" || e.ValueFrom.ConfigMapKeyRef.Optional {
			t.Errorf("shards-job.yaml: %s must come from ConfigMap engram-bench-run: %+v", name, e)
			continue
		}
		runKeys[e.ValueFrom.ConfigMapKeyRef.Key] = true
	}
	sh := script(t, "shards-job.yaml", c)
	for _, want := range []string{`--shard "$SHARD_INDEX/$SHARDS"`, `--start-at "$START_AT"`, `--scenario /scenario/scenario.toml`,
		`out="$dir/shard-$SHARD_INDEX.json"`, `--hlog "$dir/shard-$SHARD_INDEX.hlog"`, `dir="/results/$RUN_ID"`} {
		if !strings.Contains(sh, want) {
			t.Errorf("shards-job.yaml: the script lacks %s", want)
		}
	}
	isRun := cmdFlags("run")
	for _, f := range flagsAfter(t, sh, "run") {
		if !isRun(f) {
			t.Errorf("shards-job.yaml: engram-bench run has no flag --%s", f)
		}
	}
	if v := mountOf(t, "shards-job.yaml", pod, c, "/scenario"); v.ConfigMap == nil || v.ConfigMap.Name != cm.Metadata.Name {
		t.Errorf("shards-job.yaml: /scenario is %+v, want ConfigMap %s", v, cm.Metadata.Name)
	}
	if v := mountOf(t, "shards-job.yaml", pod, c, "/results"); v.PersistentVolumeClaim == nil || v.PersistentVolumeClaim.ClaimName != pvc.Metadata.Name {
		t.Errorf("shards-job.yaml: /results is %+v, want the claim %s", v, pvc.Metadata.Name)
	}
	if c.Resources.Requests["cpu"] == "" || c.Image == "" {
		t.Errorf("shards-job.yaml: image %q, cpu request %q", c.Image, c.Resources.Requests["cpu"])
	}
	if ts := pod.TopologySpreadConstraints; len(ts) != 1 || ts[0].LabelSelector.MatchLabels["app.kubernetes.io/component"] != "shard" {
		t.Errorf("shards-job.yaml: spread constraints %+v", ts)
	}

	// The merge: the same volume and run id, every shard's result.
	_, mjob, mpod := podOf(t, "merge-job.yaml")
	if mjob.CompletionMode != "" || mpod.RestartPolicy != "Never" || len(mpod.Containers) != 1 {
		t.Fatalf("merge-job.yaml: %+v", mjob)
	}
	mc := mpod.Containers[0]
	if e := envOf(mc, "RUN_ID"); e == nil || e.ValueFrom == nil || e.ValueFrom.ConfigMapKeyRef == nil || e.ValueFrom.ConfigMapKeyRef.Name != "engram-bench-run" {
		t.Errorf("merge-job.yaml: RUN_ID %+v", e)
	} else {
		runKeys[e.ValueFrom.ConfigMapKeyRef.Key] = true
	}
	msh := script(t, "merge-job.yaml", mc)
	if !strings.Contains(msh, `engram-bench merge "$dir"/shard-*.json --out "$dir/merged.json"`) || !strings.Contains(msh, `dir="/results/$RUN_ID"`) {
		t.Errorf("merge-job.yaml: the script does not merge the shards' results: %s", msh)
	}
	isMerge := cmdFlags("merge")
	for _, f := range append(flagsAfter(t, msh, "merge"), "allow-partial") {
		if !isMerge(f) {
			t.Errorf("merge-job.yaml: engram-bench merge has no flag --%s", f)
		}
	}
	if v := mountOf(t, "merge-job.yaml", mpod, mc, "/results"); v.PersistentVolumeClaim == nil || v.PersistentVolumeClaim.ClaimName != pvc.Metadata.Name {
		t.Errorf("merge-job.yaml: /results is %+v", v)
	}
	_, _, rpod := podOf(t, "results-pod.yaml")
	if v := mountOf(t, "results-pod.yaml", rpod, rpod.Containers[0], "/results"); v.PersistentVolumeClaim == nil || v.PersistentVolumeClaim.ClaimName != pvc.Metadata.Name {
		t.Errorf("results-pod.yaml: /results is %+v", v)
	}

	// Every script is valid sh.
	for name, s := range map[string]string{"shards-job.yaml": sh, "merge-job.yaml": msh} {
		if out, err := exec.Command("sh", "-n", "-c", s).CombinedOutput(); err != nil {
			t.Errorf("%s: sh -n: %v: %s", name, err, out)
		}
	}

	// docs/distributed.md creates engram-bench-run with every key the pods read.
	doc, err := os.ReadFile("../../docs/distributed.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`kubectl create configmap engram-bench-run((?:[^\n]*\\\n)*[^\n]*)`).FindSubmatch(doc)
	if m == nil {
		t.Fatal("docs/distributed.md: no `kubectl create configmap engram-bench-run` command")
	}
	have := map[string]bool{}
	for _, k := range regexp.MustCompile(`--from-literal=([a-z_]+)=`).FindAllSubmatch(m[1], -1) {
		have[string(k[1])] = true
	}
	var missing []string
	for k := range runKeys {
		if !have[k] {
			missing = append(missing, k)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("docs/distributed.md: the engram-bench-run ConfigMap it creates lacks %v, which the pods read", missing)
	}
}

// k8sScript MANIFEST OUT writes the shell script of MANIFEST's container to
// OUT with /results and /scenario moved under $WORK, so that a test can run
// exactly what a pod runs.
func k8sScript(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: k8sscript MANIFEST OUT")
	}
	_, _, pod := podOf(scriptFataler{ts}, args[0])
	sh := script(scriptFataler{ts}, args[0], pod.Containers[0])
	work := ts.Getenv("WORK")
	sh = regexp.MustCompile(`(^|[\s"'])/(results|scenario)\b`).ReplaceAllString(sh, "${1}"+work+"/$2")
	ts.Check(os.WriteFile(ts.MkAbs(args[1]), []byte(sh), 0o644))
}
