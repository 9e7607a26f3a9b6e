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
# Read the four kinds; the operator never writes their spec.
- apiGroups: ["headwater.dev"]
  resources: ["datasets", "functions", "dataflows"]
  verbs: ["get", "list", "watch"]
# Runs: read, and delete once ttlSecondsAfterFinished has passed.
- apiGroups: ["headwater.dev"]
  resources: ["runs"]
  verbs: ["get", "list", "watch", "delete"]
# Status is the operator's only output on its own kinds.
- apiGroups: ["headwater.dev"]
  resources: ["datasets/status", "functions/status", "dataflows/status", "runs/status"]
  verbs: ["get", "patch", "update"]
# Jobs and snapshot ConfigMaps carry an ownerReference to their Run with
# blockOwnerDeletion, which OwnerReferencesPermissionEnforcement checks against this.
- apiGroups: ["headwater.dev"]
  resources: ["runs/finalizers"]
  verbs: ["update"]
# One Job per node; deleted when a Run is stopped.
- apiGroups: ["batch"]
  resources: ["jobs"]
  verbs: ["create", "get", "list", "watch", "delete"]
# Node Pods: exit code and termination message.
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["get", "list", "watch"]
# Run snapshots (written once); ConfigMap datasets and code (read).
- apiGroups: [""]
  resources: ["configmaps"]
  verbs: ["get", "list", "watch", "create"]
# Secret datasets are read to check them.
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get"]
# The per-namespace artifact store claim.
- apiGroups: [""]
  resources: ["persistentvolumeclaims"]
  verbs: ["get", "create"]
# Events on Runs and catalog objects, by the operator and by kopf.
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end }}

{{/* A map of resource quantities as name=quantity,… in a stable order. */}}
{{- define "headwater.quantities" -}}
{{- $pairs := list -}}
{{- range $name, $quantity := . -}}
{{- $pairs = append $pairs (printf "%s=%v" $name $quantity) -}}
{{- end -}}
{{- join "," $pairs -}}
{{- end -}}
