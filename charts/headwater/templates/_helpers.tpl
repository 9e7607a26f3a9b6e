{{/* Chart name, truncated to 63 characters. */}}
{{- define "headwater.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: the release name, with the chart name unless the release already holds it. */}}
{{- define "headwater.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "headwater.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Selector labels: stable across upgrades. */}}
{{- define "headwater.selectorLabels" -}}
app.kubernetes.io/name: {{ include "headwater.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end }}

{{- define "headwater.labels" -}}
helm.sh/chart: {{ include "headwater.chart" . }}
{{ include "headwater.selectorLabels" . }}
app.kubernetes.io/part-of: headwater
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "headwater.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "headwater.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The operator image: repository@digest, else repository:tag (tag defaults to appVersion). */}}
{{- define "headwater.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* The operator's command-line arguments, from values. */}}
{{- define "headwater.args" -}}
{{- range .Values.watchNamespaces }}
- {{ printf "--namespace=%v" . | quote }}
{{- end }}
{{- with .Values.artifactStore }}
{{- if .url }}
- {{ printf "--store-url=%v" .url | quote }}
{{- end }}
{{- if .credentialsSecret }}
- {{ printf "--store-credentials-secret=%v" .credentialsSecret | quote }}
{{- end }}
- {{ printf "--pvc-name=%v" .pvc.name | quote }}
- {{ printf "--pvc-size=%v" .pvc.size | quote }}
- {{ printf "--pvc-access-mode=%v" .pvc.accessMode | quote }}
{{- if .pvc.storageClass }}
- {{ printf "--pvc-storage-class=%v" .pvc.storageClass | quote }}
{{- end }}
{{- end }}
- {{ printf "--runner-image=%v" (default (include "headwater.image" .) .Values.runner.image) | quote }}
{{- with .Values.runner.defaultRequests }}
- {{ printf "--default-requests=%s" (include "headwater.quantities" .) | quote }}
{{- end }}
{{- with .Values.operator }}
- {{ printf "--metrics-port=%v" .metricsPort | quote }}
- {{ printf "--health-port=%v" .healthPort | quote }}
- {{ printf "--listen-host=%v" .listenHost | quote }}
- {{ printf "--qps=%v" .qps | quote }}
- {{ printf "--burst=%v" .burst | quote }}
- {{ printf "--resync-seconds=%v" .resyncSeconds | quote }}
- {{ printf "--pod-start-timeout=%v" .podStartTimeout | quote }}
{{- range .datasetProbeAllow }}
- {{ printf "--dataset-probe-allow=%v" . | quote }}
{{- end }}
- "--leader-elect"
{{- if .verbose }}
- "--verbose"
{{- end }}
{{- range .extraArgs }}
- {{ . | quote }}
{{- end }}
{{- end }}
{{- end }}

{{/* The rules the operator needs in each namespace it watches (see README: RBAC). */}}
{{- define "headwater.namespacedRules" -}}
# Exactly the calls the operator makes (operator/headwater/controller/kube.py declares
# each; tests/unit/test_rbac.py checks this list against them).
# Watch the four kinds (kopf lists, then watches); the operator never writes a spec.
- apiGroups: ["headwater.dev"]
  resources: ["datasets", "functions", "dataflows"]
  verbs: ["list", "watch"]
# Runs: also read fresh after a lost write race, and deleted after ttlSecondsAfterFinished.
- apiGroups: ["headwater.dev"]
  resources: ["runs"]
  verbs: ["get", "list", "watch", "delete"]
# Status is the operator's only output on its own kinds, written with optimistic locking.
- apiGroups: ["headwater.dev"]
  resources: ["datasets/status", "functions/status", "dataflows/status", "runs/status"]
  verbs: ["update"]
# Jobs and snapshot ConfigMaps carry an ownerReference to their Run with
# blockOwnerDeletion, which OwnerReferencesPermissionEnforcement checks against this.
- apiGroups: ["headwater.dev"]
  resources: ["runs/finalizers"]
  verbs: ["update"]
# One Job per node; deleted when a Run is stopped or its Pod cannot start.
- apiGroups: ["batch"]
  resources: ["jobs"]
  verbs: ["create", "list", "watch", "delete"]
# Node Pods: exit code, termination message, why one cannot start.
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["list", "watch"]
# Run snapshots (written once, read back, watched by label so a deleted one is
# noticed); ConfigMap code and datasets (read). Secrets are never read: a node that
# cannot mount one fails with the Pod's reason.
- apiGroups: [""]
  resources: ["configmaps"]
  verbs: ["get", "list", "watch", "create"]
# The per-namespace artifact store claim.
- apiGroups: [""]
  resources: ["persistentvolumeclaims"]
  verbs: ["create"]
# Events on Runs; a stuck Pod's FailedMount warning says which volume is missing.
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create", "list"]
{{- end }}

{{/* A map of resource quantities as name=quantity,… in a stable order. */}}
{{- define "headwater.quantities" -}}
{{- $pairs := list -}}
{{- range $name, $quantity := . -}}
{{- $pairs = append $pairs (printf "%s=%v" $name $quantity) -}}
{{- end -}}
{{- join "," $pairs -}}
{{- end -}}
