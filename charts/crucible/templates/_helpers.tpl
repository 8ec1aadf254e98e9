{{/* The chart's name, or nameOverride. */}}
{{- define "crucible.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The prefix of every namespaced and cluster-scoped object the release owns:
"crucible" for a release named crucible, so the objects are named as
config/default names them (crucible-controller-manager, ...).
*/}}
{{- define "crucible.fullname" -}}
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

{{- define "crucible.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "crucible.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* The manager's Pods. */}}
{{- define "crucible.selectorLabels" -}}
app.kubernetes.io/name: {{ include "crucible.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
control-plane: controller-manager
{{- end }}

{{- define "crucible.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (printf "%s-controller-manager" (include "crucible.fullname" .)) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name names the ServiceAccount when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The manager's image: by digest when one is given. */}}
{{- define "crucible.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
The YAML documents of a file of files/generated (copied from config/ by
hack/chart.sh), as a list under the key "docs" of a YAML object: include
cannot return a list.
*/}}
{{- define "crucible.docs" -}}
{{- $docs := list }}
{{- range regexSplit "(?m)^---\\s*$" (.root.Files.Get .path) -1 }}
{{- $doc := fromYaml . }}
{{- if $doc.kind }}
{{- $docs = append $docs $doc }}
{{- end }}
{{- end }}
{{- if not $docs }}
{{- fail (printf "%s holds no object: run make manifests" .path) }}
{{- end }}
{{- toYaml (dict "docs" $docs) }}
{{- end }}

{{/* The rules of the object of the given kind in a file of files/generated. */}}
{{- define "crucible.rules" -}}
{{- $rules := list }}
{{- range (include "crucible.docs" . | fromYaml).docs }}
{{- if eq .kind $.kind }}
{{- $rules = .rules }}
{{- end }}
{{- end }}
{{- if not $rules }}
{{- fail (printf "%s has no %s with rules: run make manifests" .path .kind) }}
{{- end }}
{{- toYaml $rules }}
{{- end }}
