{{/* Chart name, truncated to the 63 characters a DNS label allows. */}}
{{- define "rok-token-bot.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: release-chart, or the release name alone when it already contains the chart name. */}}
{{- define "rok-token-bot.fullname" -}}
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

{{- define "rok-token-bot.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels that select the bot's pods; never change them on upgrade (selectors are immutable). */}}
{{- define "rok-token-bot.selectorLabels" -}}
app.kubernetes.io/name: {{ include "rok-token-bot.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Labels on every object. */}}
{{- define "rok-token-bot.labels" -}}
helm.sh/chart: {{ include "rok-token-bot.chart" . }}
{{ include "rok-token-bot.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: rok-token-bot
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "rok-token-bot.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "rok-token-bot.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Secret holding the Slack credentials: the user's existing one or the chart's. */}}
{{- define "rok-token-bot.secretName" -}}
{{- default (printf "%s-slack" (include "rok-token-bot.fullname" .)) .Values.slack.existingSecret }}
{{- end }}

{{- define "rok-token-bot.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* Fixed paths: the app's contract (see the project README). */}}
{{- define "rok-token-bot.secretsDir" -}}/etc/rok-token-bot/secrets{{- end }}
{{- define "rok-token-bot.configDir" -}}/etc/rok-token-bot/config{{- end }}
{{- define "rok-token-bot.caDir" -}}/etc/rok-token-bot/ca{{- end }}

{{/* The registry pods' labels the NetworkPolicy allows: networkPolicy.registry.podLabels, or the default
     when that is empty (a default map in values.yaml would merge with the user's, not be replaced). */}}
{{- define "rok-token-bot.registryPodLabelMap" -}}
{{- toYaml (default (dict "app" "rok-registry") .Values.networkPolicy.registry.podLabels) }}
{{- end }}
{{- define "rok-token-bot.registryPodLabels" -}}
{{- $labels := list }}
{{- range $k, $v := (include "rok-token-bot.registryPodLabelMap" . | fromYaml) }}
{{- $labels = append $labels (printf "%s=%s" $k $v) }}
{{- end }}
{{- join "," $labels }}
{{- end }}

{{/* Cross-field checks the JSON schema cannot express; each fails the render with one clear line. */}}
{{- define "rok-token-bot.validate" -}}
{{- $_ := required "rokRegistry.url is required, e.g. --set rokRegistry.url=https://rok.example.com" .Values.rokRegistry.url }}
{{- if and .Values.ingress.enabled (ne .Values.slack.mode "http") }}
{{- fail "ingress.enabled requires slack.mode=http (in socket mode Slack never calls the bot)" }}
{{- end }}
{{- if and .Values.ingress.enabled (not .Values.ingress.host) }}
{{- fail "ingress.host is required when ingress.enabled is true" }}
{{- end }}
{{- if not .Values.slack.existingSecret }}
{{- $_ := required "slack.botToken is required (or name a Secret in slack.existingSecret)" .Values.slack.botToken }}
{{- $_ := required "slack.sealKey is required (or name a Secret in slack.existingSecret)" .Values.slack.sealKey }}
{{- if eq .Values.slack.mode "socket" }}
{{- $_ := required "slack.appToken is required in socket mode (or name a Secret in slack.existingSecret)" .Values.slack.appToken }}
{{- else }}
{{- $_ := required "slack.signingSecret is required in http mode (or name a Secret in slack.existingSecret)" .Values.slack.signingSecret }}
{{- end }}
{{- end }}
{{- end }}
