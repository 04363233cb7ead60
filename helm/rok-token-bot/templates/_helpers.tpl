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

{{/* Labels that select the bot's serving pods (the Service, the PDB): the selector labels plus a
     component, so the `helm test` pod, which shares the selector labels to fall under the same
     NetworkPolicy, never receives traffic or counts for the budget. */}}
{{- define "rok-token-bot.botPodLabels" -}}
{{ include "rok-token-bot.selectorLabels" . }}
app.kubernetes.io/component: bot
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
{{/* With `registries`: each remote registry's kubeconfig is <kubeDir>/<name>/config, its CA <caDir>/<name>/<key>. */}}
{{- define "rok-token-bot.kubeDir" -}}/etc/rok-token-bot/kube{{- end }}
{{/* The data volume is mounted at dataMount; the bot keeps its database in dataDir, a directory it creates
     0700 inside the volume: a volume's root is whatever the platform made it (an emptyDir is 0777, a claim
     with fsGroup often 2775), and the bot warns at start when its data directory is open to others. A claim
     from chart 0.1.0 holds the database at its root: `persistence.dataSubdir: ""` keeps using it there. */}}
{{- define "rok-token-bot.dataMount" -}}/var/lib/rok-token-bot{{- end }}
{{- define "rok-token-bot.dataDir" -}}
{{- $sub := "store" }}
{{- if .Values.persistence.enabled }}{{ $sub = .Values.persistence.dataSubdir }}{{ end }}
{{- if $sub }}{{ printf "/var/lib/rok-token-bot/%s" $sub }}{{ else }}/var/lib/rok-token-bot{{ end }}
{{- end }}

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
{{- if .Values.registries }}
{{- include "rok-token-bot.validateRegistries" . }}
{{- else }}
{{- $_ := required "rokRegistry.url is required (or list several in registries), e.g. --set rokRegistry.url=https://rok.example.com" .Values.rokRegistry.url }}
{{- end }}
{{- if and .Values.ingress.enabled (ne .Values.slack.mode "http") }}
{{- fail "ingress.enabled requires slack.mode=http (in socket mode Slack never calls the bot)" }}
{{- end }}
{{- if and .Values.ingress.enabled (not .Values.ingress.host) }}
{{- fail "ingress.host is required when ingress.enabled is true" }}
{{- end }}
{{- if and (gt (int .Values.replicaCount) 1) (not .Values.database.existingSecret) }}
{{- fail (printf "replicaCount %d needs database.existingSecret (PostgreSQL): the SQLite default holds quotas and the audit outbox for one replica only" (int .Values.replicaCount)) }}
{{- end }}
{{- if and .Values.persistence.enabled .Values.database.existingSecret }}
{{- fail "persistence.enabled is for the SQLite default: with database.existingSecret the state is in PostgreSQL, so turn persistence off" }}
{{- end }}
{{- include "rok-token-bot.validateWebhook" . }}
{{- include "rok-token-bot.validateExtraEnv" . }}
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

{{/* The SIEM webhook (audit.webhook): its signing secret always comes from a Secret (the bot refuses a URL
     without one); a URL given in values must hold no credential; under the NetworkPolicy it needs a route. */}}
{{- define "rok-token-bot.validateWebhook" -}}
{{- $wh := .Values.audit.webhook }}
{{- if and $wh.url (not $wh.existingSecret) }}
{{- fail "audit.webhook.url needs audit.webhook.existingSecret: the bot signs every record with ROK_BOT_AUDIT_WEBHOOK_SECRET (16+ characters), mounted from that Secret's audit.webhook.signingSecretKey" }}
{{- end }}
{{- with $wh.url }}
{{- $u := urlParse . }}
{{- if ne $u.scheme "https" }}
{{- fail "audit.webhook.url must be an https:// URL: audit records would cross the network in clear text" }}
{{- end }}
{{- if or $u.userinfo $u.query }}
{{- fail "audit.webhook.url carries a credential (user:password@ or a ?query such as Splunk's ?token=): values are not secret; put the whole URL in the Secret audit.webhook.existingSecret under audit.webhook.urlKey and leave audit.webhook.url empty" }}
{{- end }}
{{- end }}
{{- if and $wh.existingSecret .Values.networkPolicy.enabled (not .Values.networkPolicy.webhook.to) }}
{{- fail "networkPolicy.webhook.to is required with audit.webhook, or the NetworkPolicy blocks the SIEM: list its address, e.g. --set networkPolicy.webhook.to[0].ipBlock.cidr=203.0.113.10/32, and its port in networkPolicy.webhook.ports (NetworkPolicy cannot match host names)" }}
{{- end }}
{{- end }}

{{/* Several registries (`registries`): what the schema cannot check, each failing the render with one line naming
     the registry. rokRegistry's per-registry values would be silently unused beside the list, so they are refused. */}}
{{- define "rok-token-bot.validateRegistries" -}}
{{- $r := .Values.rokRegistry }}
{{- if $r.url }}
{{- fail "registries and rokRegistry.url: set one, not both (each registry in the list has its url; the bot refuses both ROK_BOT_REGISTRIES and ROK_REGISTRY_URL)" }}
{{- end }}
{{- if or $r.container $r.caBundle.configMap $r.allowHttp }}
{{- fail "rokRegistry.container, caBundle.configMap and allowHttp are for one registry: with registries, set container, caBundle and allowHttp on each registry in the list" }}
{{- end }}
{{- $names := dict }}
{{- $channels := dict }}
{{- range $i, $reg := .Values.registries }}
{{- $where := printf "registries[%d] (%s)" $i $reg.name }}
{{- if hasKey $names $reg.name }}
{{- fail (printf "%s: the name %s is already the name of registries[%s]: names must be unique" $where $reg.name (get $names $reg.name)) }}
{{- end }}
{{- $_ := set $names $reg.name (toString $i) }}
{{- range $reg.channels }}
{{- if hasKey $channels . }}
{{- fail (printf "%s: channel %s is already the default of registry %s: a channel has one default registry" $where . (get $channels .)) }}
{{- end }}
{{- $_ := set $channels . $reg.name }}
{{- end }}
{{- if and (not (hasPrefix "https://" $reg.url)) (not $reg.allowHttp) }}
{{- fail (printf "%s: url must be https://: Verify sends users' tokens to it (for an in-cluster Service URL without TLS, set allowHttp: true, and they cross the pod network in clear text)" $where) }}
{{- end }}
{{- $np := $reg.networkPolicy | default dict }}
{{- if $reg.kubeconfigSecret }}
{{- if $np.podLabels }}
{{- fail (printf "%s: networkPolicy.podLabels selects pods in this cluster, but the registry is remote (kubeconfigSecret): list its API server in networkPolicy.apiServer.cidrs, and its URL's peers in networkPolicy.to" $where) }}
{{- end }}
{{- if and $.Values.networkPolicy.enabled (not ($np.apiServer | default dict).cidrs) }}
{{- fail (printf "%s: networkPolicy.apiServer.cidrs is required for a remote registry (kubeconfigSecret), or the NetworkPolicy blocks its cluster: list its API server's addresses, e.g. --set 'registries[%d].networkPolicy.apiServer.cidrs[0]=198.51.100.10/32', and its port in networkPolicy.apiServer.ports (NetworkPolicy cannot match host names)" $where $i) }}
{{- end }}
{{- else }}
{{- if $reg.context }}
{{- fail (printf "%s: context needs kubeconfigSecret (the kubeconfig that defines it); an in-cluster registry uses the bot's ServiceAccount" $where) }}
{{- end }}
{{- if or $np.apiServer $np.to }}
{{- fail (printf "%s: networkPolicy.apiServer and networkPolicy.to are for a remote registry (kubeconfigSecret); an in-cluster one is reached through the chart's networkPolicy.apiServer and its pods (this registry's networkPolicy.podLabels and ports)" $where) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/* The ROK_BOT_REGISTRIES file (bot/domain/registries.py), from `registries`: every path points where the pod
     mounts it (the ConfigMap's user maps, the CA ConfigMaps, the kubeconfig Secrets). Keys left unset are left
     out, so the bot's defaults apply; max_concurrent_execs defaults to tokens.maxConcurrentExecs. */}}
{{- define "rok-token-bot.registriesFile" -}}
{{- $configDir := include "rok-token-bot.configDir" . }}
{{- $caDir := include "rok-token-bot.caDir" . }}
{{- $kubeDir := include "rok-token-bot.kubeDir" . }}
{{- $entries := list }}
{{- range .Values.registries }}
{{- $e := dict "name" .name "url" .url "namespace" (default "rok-registry" .namespace) "service" (default "rok-registry" .service) "max_concurrent_execs" (int (default $.Values.tokens.maxConcurrentExecs .maxConcurrentExecs)) }}
{{- with .title }}{{ $_ := set $e "title" . }}{{ end }}
{{- if .kubeconfigSecret }}{{ $_ := set $e "kubeconfig" (printf "%s/%s/config" $kubeDir .name) }}{{ end }}
{{- with .context }}{{ $_ := set $e "context" . }}{{ end }}
{{- with .container }}{{ $_ := set $e "container" . }}{{ end }}
{{- if (.caBundle | default dict).configMap }}
{{- $_ := set $e "ca_bundle" (printf "%s/%s/%s" $caDir .name (default "ca.crt" .caBundle.key)) }}
{{- end }}
{{- if .allowHttp }}{{ $_ := set $e "allow_http" true }}{{ end }}
{{- with .channels }}{{ $_ := set $e "channels" . }}{{ end }}
{{- if .userMap }}{{ $_ := set $e "user_map" (printf "%s/user-map-%s.yaml" $configDir .name) }}{{ end }}
{{- with .policy }}{{ $_ := set $e "policy" . }}{{ end }}
{{- $entries = append $entries $e }}
{{- end }}
{{- toYaml (dict "registries" $entries) }}
{{- end }}

{{/* The namespaces the chart grants RBAC in, each with its registry Services: rokRegistry's, or with `registries`
     every in-cluster registry's (a remote one's Role lives in its own cluster, made by its admin). */}}
{{- define "rok-token-bot.rbacNamespaces" -}}
{{- $byNs := dict }}
{{- if .Values.registries }}
{{- range .Values.registries }}
{{- if not .kubeconfigSecret }}
{{- $ns := default "rok-registry" .namespace }}
{{- $svc := default "rok-registry" .service }}
{{- $_ := set $byNs $ns (append (get $byNs $ns | default list) $svc | uniq) }}
{{- end }}
{{- end }}
{{- else }}
{{- $_ := set $byNs .Values.rokRegistry.namespace (list .Values.rokRegistry.service) }}
{{- end }}
{{- toYaml $byNs }}
{{- end }}

{{/* "true" when some registry is remote (kubeconfigSecret), in this cluster, or has its own CA bundle; else "". */}}
{{- define "rok-token-bot.anyRemote" -}}
{{- range .Values.registries }}{{ if .kubeconfigSecret }}true{{ end }}{{ end }}
{{- end }}
{{- define "rok-token-bot.anyInCluster" -}}
{{- range .Values.registries }}{{ if not .kubeconfigSecret }}true{{ end }}{{ end }}
{{- end }}
{{- define "rok-token-bot.anyCa" -}}
{{- range .Values.registries }}{{ if (.caBundle | default dict).configMap }}true{{ end }}{{ end }}
{{- end }}

{{/* NetworkPolicy egress with `registries`, one rule per registry (commented with its name). An in-cluster
     registry: the local API server (exec; one rule for all of them, networkPolicy.apiServer) and its pods in its
     namespace on their ports, as networkPolicy.registry does for one. A remote registry: its cluster's API server
     at the addresses given (required: NetworkPolicy cannot match the kubeconfig's host name), and its URL's peers
     when given. */}}
{{- define "rok-token-bot.registriesEgress" -}}
{{- $np := .Values.networkPolicy }}
{{- if include "rok-token-bot.anyInCluster" . -}}
# Kubernetes API server: pod lookup and exec into the in-cluster registries' pods. Without apiServer.cidrs the
# chart cannot know the control plane's addresses: any IPv4 address on the API server ports.
- to:
    {{- range (default (list "0.0.0.0/0") $np.apiServer.cidrs) }}
    - ipBlock:
        cidr: {{ . }}
    {{- end }}
  ports:
    {{- range $np.apiServer.ports }}
    - port: {{ . }}
      protocol: TCP
    {{- end }}
{{- end }}
{{- range .Values.registries }}
{{- $rnp := .networkPolicy | default dict }}
{{- if .kubeconfigSecret }}
# Registry {{ .name }} (remote, kubeconfigSecret {{ .kubeconfigSecret }}): its cluster's API server, for pod lookup and exec.
- to:
    {{- range $rnp.apiServer.cidrs }}
    - ipBlock:
        cidr: {{ . }}
    {{- end }}
  ports:
    {{- range (default (list 443 6443) $rnp.apiServer.ports) }}
    - port: {{ . }}
      protocol: TCP
    {{- end }}
{{- if $rnp.to }}
# Registry {{ .name }}'s URL (Verify, doctor), at the peers given.
- to:
    {{- toYaml $rnp.to | nindent 4 }}
  ports:
    {{- range (default (list 443) $rnp.ports) }}
    - port: {{ . }}
      protocol: TCP
    {{- end }}
{{- end }}
{{- else }}
# Registry {{ .name }}: its pods (by label, in {{ default "rok-registry" .namespace }}) on their HTTP API ports, for a URL that
# resolves inside the cluster.
- to:
    - namespaceSelector:
        matchLabels:
          kubernetes.io/metadata.name: {{ default "rok-registry" .namespace }}
      podSelector:
        matchLabels:
          {{- toYaml (default (include "rok-token-bot.registryPodLabelMap" $ | fromYaml) $rnp.podLabels) | nindent 10 }}
  ports:
    {{- range (default $np.registry.ports $rnp.ports) }}
    - port: {{ . }}
      protocol: TCP
    {{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/* Secrets are files, never env vars: extraEnv may not carry one of the bot's secret settings. */}}
{{- define "rok-token-bot.validateExtraEnv" -}}
{{- range .Values.extraEnv }}
{{- if has .name (list "ROK_BOT_AUDIT_WEBHOOK_SECRET" "ROK_BOT_AUDIT_WEBHOOK_URL") }}
{{- fail (printf "extraEnv: %s is a secret: set audit.webhook (existingSecret, and url or urlKey), which mounts it as a file and opens the webhook's egress rule" .name) }}
{{- end }}
{{- if has .name (list "SLACK_BOT_TOKEN" "SLACK_SIGNING_SECRET" "SLACK_APP_TOKEN" "ROK_BOT_SEAL_KEY" "ROK_BOT_DATABASE_URL") }}
{{- fail (printf "extraEnv: %s is a secret: put it in slack.existingSecret (database.existingSecret for the database URL), mounted as a file" .name) }}
{{- end }}
{{- end }}
{{- end }}

{{/* The pod's configuration, shared by the Deployment and the `helm test` pod so they cannot drift:
     the environment, the mounts and the volumes (secrets as files, the ConfigMap, the CA, /tmp). */}}
{{- define "rok-token-bot.env" -}}
{{- $secretsDir := include "rok-token-bot.secretsDir" . }}
{{- $configDir := include "rok-token-bot.configDir" . }}
{{- $caDir := include "rok-token-bot.caDir" . -}}
- name: ROK_BOT_SECRETS_DIR
  value: {{ $secretsDir | quote }}
- name: ROK_BOT_PORT
  value: "3000"
{{- if .Values.registries }}
# Several registries: their file, from the ConfigMap; none of the ROK_REGISTRY_* settings (the bot refuses both).
- name: ROK_BOT_REGISTRIES
  value: {{ printf "%s/registries.yaml" $configDir | quote }}
{{- else }}
- name: ROK_REGISTRY_URL
  value: {{ .Values.rokRegistry.url | quote }}
- name: ROK_REGISTRY_NAMESPACE
  value: {{ .Values.rokRegistry.namespace | quote }}
- name: ROK_REGISTRY_SERVICE
  value: {{ .Values.rokRegistry.service | quote }}
{{- with .Values.rokRegistry.container }}
- name: ROK_REGISTRY_CONTAINER
  value: {{ . | quote }}
{{- end }}
{{- if .Values.rokRegistry.caBundle.configMap }}
- name: ROK_REGISTRY_CA_BUNDLE
  value: {{ printf "%s/%s" $caDir .Values.rokRegistry.caBundle.key | quote }}
{{- end }}
{{- if .Values.rokRegistry.allowHttp }}
- name: ROK_REGISTRY_ALLOW_HTTP
  value: "true"
{{- end }}
{{- end }}
{{- with .Values.rokRegistry.accountListCommand }}
- name: ROK_BOT_ACCOUNT_LIST_COMMAND
  value: {{ toJson . | quote }}
{{- end }}
{{- with .Values.rokRegistry.tokenCreateCommand }}
- name: ROK_BOT_TOKEN_CREATE_COMMAND
  value: {{ toJson . | quote }}
{{- end }}
# In-flight requests get the grace period minus 5 s to finish after SIGTERM.
- name: ROK_BOT_DRAIN_TIMEOUT
  value: {{ printf "%ds" (max 1 (sub (int .Values.terminationGracePeriodSeconds) 5)) | quote }}
- name: ROK_BOT_DEFAULT_DURATION
  value: {{ .Values.tokens.defaultDuration | quote }}
- name: ROK_BOT_MAX_DURATION
  value: {{ .Values.tokens.maxDuration | quote }}
- name: ROK_BOT_MIN_DURATION
  value: {{ .Values.tokens.minDuration | quote }}
- name: ROK_BOT_EXEC_TIMEOUT
  value: {{ .Values.tokens.execTimeout | quote }}
- name: ROK_BOT_ACCOUNT_CACHE_TTL
  value: {{ .Values.tokens.accountCacheTTL | quote }}
- name: ROK_BOT_MAX_CONCURRENT_EXECS
  value: {{ .Values.tokens.maxConcurrentExecs | quote }}
- name: ROK_BOT_REMIND_BEFORE
  value: {{ .Values.tokens.remindBefore | quote }}
- name: ROK_BOT_LOG_LEVEL
  value: {{ .Values.logging.level | quote }}
- name: ROK_BOT_LOG_FORMAT
  value: {{ .Values.logging.format | quote }}
- name: ROK_BOT_LOG_STREAM
  value: {{ .Values.logging.stream | quote }}
- name: SLACK_API_URL
  value: {{ .Values.slack.apiUrl | quote }}
{{- with .Values.slack.auditChannel }}
- name: ROK_BOT_AUDIT_CHANNEL
  value: {{ . | quote }}
{{- end }}
{{- with .Values.slack.emailDomains }}
- name: ROK_BOT_EMAIL_DOMAINS
  value: {{ join "," . | quote }}
{{- end }}
{{- with .Values.slack.teams }}
- name: ROK_BOT_SLACK_TEAMS
  value: {{ join "," . | quote }}
{{- end }}
{{- with .Values.slack.supportContact }}
- name: ROK_BOT_SUPPORT_CONTACT
  value: {{ . | quote }}
{{- end }}
{{- if and .Values.audit.webhook.existingSecret .Values.audit.webhook.url }}
# A webhook URL without a credential in it (the chart checks); a URL with one is a file from the Secret.
- name: ROK_BOT_AUDIT_WEBHOOK_URL
  value: {{ .Values.audit.webhook.url | quote }}
{{- end }}
{{- if .Values.audit.webhook.existingSecret }}
- name: ROK_BOT_AUDIT_WEBHOOK_FORMAT
  value: {{ .Values.audit.webhook.format | quote }}
{{- end }}
- name: ROK_BOT_DATA_DIR
  value: {{ include "rok-token-bot.dataDir" . | quote }}
- name: ROK_BOT_RETENTION
  value: {{ .Values.database.retention | quote }}
- name: ROK_BOT_REFUSAL_RETENTION
  value: {{ .Values.database.refusalRetention | quote }}
- name: ROK_BOT_USER_MAP
  value: {{ printf "%s/user-map.yaml" $configDir | quote }}
{{- if .Values.policy }}
- name: ROK_BOT_POLICY
  value: {{ printf "%s/policy.yaml" $configDir | quote }}
{{- end }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "rok-token-bot.volumeMounts" -}}
{{- $secretsDir := include "rok-token-bot.secretsDir" . }}
{{- $configDir := include "rok-token-bot.configDir" . }}
{{- $caDir := include "rok-token-bot.caDir" . -}}
- name: tmp
  mountPath: /tmp
# The state (the SQLite database when database.existingSecret is empty): a volume, the root stays read-only.
- name: data
  mountPath: {{ include "rok-token-bot.dataMount" . }}
- name: secrets
  mountPath: {{ $secretsDir }}
  readOnly: true
- name: config
  mountPath: {{ $configDir }}
  readOnly: true
{{- if .Values.registries }}
{{- if include "rok-token-bot.anyCa" . }}
# Each registry's CA bundle at <name>/<key>.
- name: registry-ca
  mountPath: {{ $caDir }}
  readOnly: true
{{- end }}
{{- if include "rok-token-bot.anyRemote" . }}
# Each remote registry's kubeconfig at <name>/config.
- name: kubeconfigs
  mountPath: {{ include "rok-token-bot.kubeDir" . }}
  readOnly: true
{{- end }}
{{- else if .Values.rokRegistry.caBundle.configMap }}
- name: registry-ca
  mountPath: {{ $caDir }}
  readOnly: true
{{- end }}
{{- end }}

{{- define "rok-token-bot.volumes" -}}
# The only writable path; the root filesystem is read-only.
- name: tmp
  emptyDir:
    sizeLimit: {{ .Values.tmpSizeLimit }}
# One file per secret (pydantic-settings' secrets_dir). The keys are listed so `slack.mode` is
# authoritative: SLACK_APP_TOKEN (which switches the app to Socket Mode) is projected only in
# socket mode, and a missing required key keeps the pod from starting instead of half-working.
- name: secrets
  projected:
    defaultMode: 0440
    sources:
      - secret:
          name: {{ include "rok-token-bot.secretName" . }}
          items:
            - key: SLACK_BOT_TOKEN
              path: SLACK_BOT_TOKEN
            - key: ROK_BOT_SEAL_KEY
              path: ROK_BOT_SEAL_KEY
            {{- if eq .Values.slack.mode "socket" }}
            - key: SLACK_APP_TOKEN
              path: SLACK_APP_TOKEN
            {{- else }}
            - key: SLACK_SIGNING_SECRET
              path: SLACK_SIGNING_SECRET
            {{- end }}
      {{- with .Values.database.existingSecret }}
      # The PostgreSQL URL, a secret like the others: read as ROK_BOT_DATABASE_URL from the secrets dir.
      - secret:
          name: {{ . }}
          items:
            - key: {{ $.Values.database.secretKey }}
              path: ROK_BOT_DATABASE_URL
      {{- end }}
      {{- with .Values.audit.webhook }}
      {{- if .existingSecret }}
      # The SIEM webhook's signing secret and, unless audit.webhook.url gives a plain one, its URL.
      - secret:
          name: {{ .existingSecret }}
          items:
            {{- if not .url }}
            - key: {{ .urlKey }}
              path: ROK_BOT_AUDIT_WEBHOOK_URL
            {{- end }}
            - key: {{ .signingSecretKey }}
              path: ROK_BOT_AUDIT_WEBHOOK_SECRET
      {{- end }}
      {{- end }}
      {{- if eq .Values.slack.mode "socket" }}
      # The signing secret is unused in socket mode: mounted when present, not required.
      - secret:
          name: {{ include "rok-token-bot.secretName" . }}
          optional: true
          items:
            - key: SLACK_SIGNING_SECRET
              path: SLACK_SIGNING_SECRET
      {{- end }}
- name: config
  configMap:
    name: {{ include "rok-token-bot.fullname" . }}
{{- if .Values.registries }}
{{- if include "rok-token-bot.anyCa" . }}
- name: registry-ca
  projected:
    sources:
      {{- range .Values.registries }}
      {{- if (.caBundle | default dict).configMap }}
      - configMap:
          name: {{ .caBundle.configMap }}
          items:
            - key: {{ default "ca.crt" .caBundle.key }}
              path: {{ printf "%s/%s" .name (default "ca.crt" .caBundle.key) }}
      {{- end }}
      {{- end }}
{{- end }}
{{- if include "rok-token-bot.anyRemote" . }}
# The remote registries' kubeconfigs (credentials for their clusters), secrets like the others: files, 0440.
- name: kubeconfigs
  projected:
    defaultMode: 0440
    sources:
      {{- range $reg := .Values.registries }}
      {{- with $reg.kubeconfigSecret }}
      - secret:
          name: {{ . }}
          items:
            - key: {{ default "config" $reg.kubeconfigKey }}
              path: {{ printf "%s/config" $reg.name }}
      {{- end }}
      {{- end }}
{{- end }}
{{- else if .Values.rokRegistry.caBundle.configMap }}
- name: registry-ca
  configMap:
    name: {{ .Values.rokRegistry.caBundle.configMap }}
    items:
      - key: {{ .Values.rokRegistry.caBundle.key }}
        path: {{ .Values.rokRegistry.caBundle.key }}
{{- end }}
{{- end }}

{{/* The bot's data dir: the PVC when persistence is on, else an emptyDir (state lost with the pod). Only the
     Deployment mounts the PVC; the `helm test` pod gets an emptyDir (a ReadWriteOnce claim held by the bot
     could keep it from starting on another node). */}}
{{- define "rok-token-bot.dataVolume" -}}
- name: data
{{- if .Values.persistence.enabled }}
  persistentVolumeClaim:
    claimName: {{ default (printf "%s-data" (include "rok-token-bot.fullname" .)) .Values.persistence.existingClaim }}
{{- else }}
  emptyDir:
    sizeLimit: {{ .Values.dataSizeLimit }}
{{- end }}
{{- end }}
