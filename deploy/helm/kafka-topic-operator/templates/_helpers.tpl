{{/*
Names. Every object a release makes is named after the release (kto.fullname), so two releases
can share a cluster: cluster-scoped objects (ClusterRole, ClusterRoleBinding, FlowSchema) and the
Lease would otherwise collide. A release named like the chart (`helm install kafka-topic-operator`,
as docs/deployment.md shows) keeps the plain name "kafka-topic-operator": the names chart 0.1.0
used, so an upgrade from it keeps its Deployment and its Lease.
*/}}
{{- define "kto.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "kto.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "kto.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
The full name with a suffix, e.g. (list . "metrics"): the full name is shortened first, so the
result stays a valid 63-character DNS label (a Service name must be one).
*/}}
{{- define "kto.suffixed" -}}
{{- $root := index . 0 -}}
{{- $suffix := index . 1 -}}
{{- $base := include "kto.fullname" $root | trunc (int (sub 62 (len $suffix))) | trimSuffix "-" -}}
{{- printf "%s-%s" $base $suffix -}}
{{- end -}}

{{- define "kto.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "kto.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "kto.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The Lease the replicas elect a leader with: one per release. */}}
{{- define "kto.leaseName" -}}
{{- include "kto.fullname" . -}}
{{- end -}}

{{/* The recommended labels (kubernetes.io/docs/concepts/overview/working-with-objects/common-labels). */}}
{{- define "kto.labels" -}}
helm.sh/chart: {{ include "kto.chart" . }}
{{ include "kto.selector" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: operator
app.kubernetes.io/part-of: kafka-topic-operator
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* The Pods' identity: the Deployment's selector, which cannot change after install. */}}
{{- define "kto.selector" -}}
app.kubernetes.io/name: {{ include "kto.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* What templates/crds.yaml adds to each object's metadata (a line "metadata:" and then these). */}}
{{- define "kto.crdMetadata" -}}
metadata:
  annotations:
    helm.sh/resource-policy: keep
  labels:
    {{- include "kto.labels" . | nindent 4 }}
{{ end -}}
