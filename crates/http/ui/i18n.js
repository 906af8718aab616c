// English and Simplified Chinese. `t('a.b', {x})` fills `{x}` placeholders.

export const LANGUAGES = [['en', 'English'], ['zh-CN', '简体中文']];

const en = {
  'nav.main': 'Main', 'nav.skip': 'Skip to content', 'nav.dashboard': 'Dashboard', 'nav.services': 'Services', 'nav.clientKeys': 'Client keys',
  'nav.language': 'Language', 'nav.logout': 'Log out', 'nav.dark': 'Dark theme', 'nav.light': 'Light theme',
  'title.login': 'Log in', 'title.dashboard': 'Dashboard', 'title.services': 'Services', 'title.client-keys': 'Client keys', 'title.request-logs': 'Request log', 'nav.requestLogs': 'Request log',
  'login.subtitle': 'Sign in to manage services, keys and client keys.', 'login.username': 'Username',
  'login.password': 'Password', 'login.submit': 'Log in', 'login.wrong': 'Wrong username or password.',
  'login.throttled': 'Too many attempts. Try again in {s} s.', 'login.expired': 'Your session has expired. Please log in again.',
  'error.title': 'Something went wrong',
  'common.actions': 'Actions', 'common.cancel': 'Cancel', 'common.copy': 'Copy', 'common.copied': 'Copied',
  'common.delete': 'Delete', 'common.edit': 'Edit', 'common.save': 'Save',
  'validation.required': 'required',
  'usage.requests': 'Requests', 'usage.failures': 'Failures', 'usage.failovers': 'Failovers',
  'usage.inputTokens': 'Input tokens', 'usage.outputTokens': 'Output tokens', 'usage.tokens': 'Tokens (in / out)',
  'dashboard.title': 'Dashboard', 'dashboard.byService': 'By service',
  'dashboard.instance': 'Version {version} · {build} build · {database} · {cache} cache',
  'state.healthy': 'healthy', 'state.cooling_down': 'cooling down', 'state.invalid': 'invalid', 'state.disabled': 'disabled',
  'services.title': 'Services', 'services.create': 'New service', 'services.none': 'No services yet.',
  'services.name': 'Name', 'services.slug': 'Slug', 'services.type': 'Type', 'services.keyCount': 'Keys (active / all)',
  'services.status': 'Status', 'services.active': 'Active', 'services.keys': 'Keys', 'services.use': 'Use',
  'services.generic': 'Generic REST', 'services.type.llm': 'LLM API', 'services.type.generic': 'Generic REST API',
  'services.enabled': '{name} is active.', 'services.disabled': '{name} is paused.',
  'services.confirmDelete': 'Delete service {name} and all its keys?', 'services.deleted': '{name} deleted.',
  'services.created': '{name} created. Add its keys now.', 'services.saved': '{name} saved.',
  'services.newTitle': 'New service', 'services.editTitle': 'Edit {name}',
  'services.slugHint': 'Lower-case letters, digits, - and _ (starts with a letter or digit, at most 63).',
  'services.llmTarget': 'LLM upstream', 'services.genericTarget': 'REST upstream',
  'services.targetBaseUrl': 'Upstream base URL', 'services.targetBaseUrlHint': 'For example https://api.openai.com/v1',
  'services.apiFormat': 'Upstream API format', 'services.outputFormat': 'Format clients use',
  'services.outputFormatHint': 'Auto: detected from the request path, converted when it differs.',
  'services.modelMap': 'Model map (JSON, optional)', 'services.modelMapHint': 'Client model name → upstream model name.',
  'services.model_mapInvalid': 'must be a JSON object of model names',
  'services.targetUrl': 'Target URL', 'services.method': 'Allowed method',
  'services.keyPlacement': 'Where the upstream key goes', 'services.keyLocation': 'Location',
  'services.keyName': 'Header or parameter name', 'services.keyNameHint': 'Empty: the format’s default.',
  'services.rotation': 'Rotation and failover', 'services.strategy': 'Strategy', 'services.maxAttempts': 'Max attempts',
  'services.timeout': 'Timeout (s)', 'services.timeoutDefault': 'PROXY_TIMEOUT',
  'services.errorRules': 'Error rules (JSON, optional)',
  'services.errorRulesHint': 'Empty: the preset of the API format. [{"status": 429, "action": "failover_cooldown"}, …]',
  'services.error_rulesInvalid': 'must be a JSON array of rules',
  'format.openai_compatible': 'OpenAI compatible', 'format.openai_responses': 'OpenAI Responses',
  'format.anthropic_native': 'Anthropic', 'format.gemini_native': 'Gemini',
  'output.auto': 'Auto (from the path)', 'output.none': 'Same as upstream', 'output.openai': 'OpenAI Chat Completions',
  'output.openai_responses': 'OpenAI Responses', 'output.anthropic': 'Anthropic Messages', 'output.gemini': 'Gemini',
  'location.default': 'Default of the format', 'location.header': 'Header', 'location.query': 'Query parameter',
  'location.bearer': 'Bearer token',
  'strategy.round_robin': 'Round robin', 'strategy.weighted': 'Weighted', 'strategy.random': 'Random',
  'snippets.baseUrl': 'Base URL',
  'keys.title': 'Keys', 'keys.titleOf': 'Keys of {name}', 'keys.none': 'No keys yet. Add or import some above.',
  'keys.noKeys': 'no keys', 'keys.key': 'Key', 'keys.state': 'State', 'keys.health': 'Key health',
  'keys.lastError': 'Last error', 'keys.weight': 'Weight', 'keys.rpm': 'RPM limit', 'keys.enabled': 'Enabled',
  'keys.weightOf': 'Weight of {key_masked}', 'keys.rpmOf': 'RPM limit of {key_masked}',
  'keys.failuresInRow': '{consecutive_failures} failures in a row', 'keys.cooldownLeft': '{s} s left',
  'keys.test': 'Test', 'keys.testOk': '{key_masked} works ({status}, {ms} ms).',
  'keys.testFailed': '{key_masked} failed ({status}): {error}', 'keys.updated': '{key_masked} updated.',
  'keys.confirmDelete': 'Delete key {key_masked}?', 'keys.addOne': 'Add a key', 'keys.add': 'Add',
  'keys.added': '{key_masked} added.', 'keys.batch': 'Import keys', 'keys.batchHint': 'One key per line. Duplicates are skipped.',
  'keys.import': 'Import', 'keys.imported': 'Imported {success_count}, skipped {skipped_count} duplicates, {failed_count} failed.',
  'keys.clear': 'Delete all keys', 'keys.confirmClear': 'Delete every key of {name}?', 'keys.cleared': '{deleted_count} keys deleted.',
  'clientKeys.title': 'Client keys', 'clientKeys.intro': 'Keys your applications use to call the gateway.',
  'clientKeys.none': 'No client keys yet.', 'clientKeys.create': 'New client key', 'clientKeys.createButton': 'Create key',
  'clientKeys.name': 'Name', 'clientKeys.allowed': 'Allowed services',
  'clientKeys.allowedHint': 'None checked: every service.', 'clientKeys.all': 'all services',
  'clientKeys.expires': 'Expires', 'clientKeys.expiresHint': 'Empty: never.', 'clientKeys.never': 'never',
  'clientKeys.rpmHint': 'Requests per minute; empty: no limit.', 'clientKeys.lastUsed': 'Last used',
  'clientKeys.active': 'Active', 'clientKeys.enabled': '{name} is active again.', 'clientKeys.revoked': '{name} revoked.',
  'clientKeys.confirmDelete': 'Delete client key {name}? Applications using it stop working.',
  'clientKeys.createdTitle': 'Client key {name} created',
  'clientKeys.shownOnce': 'Copy it now: it is stored only as a hash and will not be shown again.',
  'clientKeys.dismiss': 'I have copied it',
  'logs.title': 'Request log', 'logs.intro': 'One row per proxied request, newest first. Never bodies or keys.',
  'logs.any': 'Any', 'logs.service': 'Service', 'logs.clientKey': 'Client key', 'logs.status': 'Status',
  'logs.since': 'From', 'logs.until': 'Until', 'logs.apply': 'Apply filters', 'logs.more': 'Load older',
  'logs.time': 'Time', 'logs.formats': 'Format', 'logs.model': 'Model', 'logs.attempts': 'Attempts',
  'logs.latency': 'Latency', 'logs.ttfb': 'first byte {ms} ms', 'logs.shown': '{n} requests shown',
  'logs.none': 'No requests match.',
};

const zh = {
  'nav.main': '主导航', 'nav.skip': '跳到正文', 'nav.dashboard': '概览', 'nav.services': '服务', 'nav.clientKeys': '客户端密钥',
  'nav.language': '语言', 'nav.logout': '退出登录', 'nav.dark': '深色主题', 'nav.light': '浅色主题',
  'title.login': '登录', 'title.dashboard': '概览', 'title.services': '服务', 'title.client-keys': '客户端密钥', 'title.request-logs': '请求日志', 'nav.requestLogs': '请求日志',
  'login.subtitle': '登录以管理服务、密钥和客户端密钥。', 'login.username': '用户名', 'login.password': '密码',
  'login.submit': '登录', 'login.wrong': '用户名或密码错误。', 'login.throttled': '尝试次数过多，请 {s} 秒后再试。',
  'login.expired': '会话已过期，请重新登录。',
  'error.title': '出错了',
  'common.actions': '操作', 'common.cancel': '取消', 'common.copy': '复制', 'common.copied': '已复制',
  'common.delete': '删除', 'common.edit': '编辑', 'common.save': '保存',
  'validation.required': '必填',
  'usage.requests': '请求数', 'usage.failures': '失败数', 'usage.failovers': '故障转移',
  'usage.inputTokens': '输入 Token', 'usage.outputTokens': '输出 Token', 'usage.tokens': 'Token（输入 / 输出）',
  'dashboard.title': '概览', 'dashboard.byService': '按服务',
  'dashboard.instance': '版本 {version} · {build} 版 · {database} · {cache} 缓存',
  'state.healthy': '正常', 'state.cooling_down': '冷却中', 'state.invalid': '已失效', 'state.disabled': '已停用',
  'services.title': '服务', 'services.create': '新建服务', 'services.none': '还没有服务。',
  'services.name': '名称', 'services.slug': '标识（slug）', 'services.type': '类型', 'services.keyCount': '密钥（启用 / 全部）',
  'services.status': '状态', 'services.active': '启用', 'services.keys': '密钥', 'services.use': '调用方式',
  'services.generic': '通用 REST', 'services.type.llm': 'LLM API', 'services.type.generic': '通用 REST API',
  'services.enabled': '{name} 已启用。', 'services.disabled': '{name} 已暂停。',
  'services.confirmDelete': '删除服务 {name} 及其全部密钥？', 'services.deleted': '{name} 已删除。',
  'services.created': '{name} 已创建，现在添加密钥。', 'services.saved': '{name} 已保存。',
  'services.newTitle': '新建服务', 'services.editTitle': '编辑 {name}',
  'services.slugHint': '小写字母、数字、- 和 _（以字母或数字开头，最多 63 个字符）。',
  'services.llmTarget': 'LLM 上游', 'services.genericTarget': 'REST 上游',
  'services.targetBaseUrl': '上游基础 URL', 'services.targetBaseUrlHint': '例如 https://api.openai.com/v1',
  'services.apiFormat': '上游 API 格式', 'services.outputFormat': '客户端格式',
  'services.outputFormatHint': '自动：根据请求路径识别，格式不同时自动转换。',
  'services.modelMap': '模型映射（JSON，可选）', 'services.modelMapHint': '客户端模型名 → 上游模型名。',
  'services.model_mapInvalid': '必须是模型名的 JSON 对象',
  'services.targetUrl': '目标 URL', 'services.method': '允许的方法',
  'services.keyPlacement': '上游密钥位置', 'services.keyLocation': '位置',
  'services.keyName': '请求头或参数名', 'services.keyNameHint': '留空：使用该格式的默认值。',
  'services.rotation': '轮换与故障转移', 'services.strategy': '策略', 'services.maxAttempts': '最大尝试次数',
  'services.timeout': '超时（秒）', 'services.timeoutDefault': 'PROXY_TIMEOUT',
  'services.errorRules': '错误规则（JSON，可选）',
  'services.errorRulesHint': '留空：使用该 API 格式的预设。[{"status": 429, "action": "failover_cooldown"}, …]',
  'services.error_rulesInvalid': '必须是规则的 JSON 数组',
  'format.openai_compatible': 'OpenAI 兼容', 'format.openai_responses': 'OpenAI Responses',
  'format.anthropic_native': 'Anthropic', 'format.gemini_native': 'Gemini',
  'output.auto': '自动（按路径）', 'output.none': '与上游相同', 'output.openai': 'OpenAI Chat Completions',
  'output.openai_responses': 'OpenAI Responses', 'output.anthropic': 'Anthropic Messages', 'output.gemini': 'Gemini',
  'location.default': '格式默认', 'location.header': '请求头', 'location.query': '查询参数', 'location.bearer': 'Bearer 令牌',
  'strategy.round_robin': '轮询', 'strategy.weighted': '加权', 'strategy.random': '随机',
  'snippets.baseUrl': '基础 URL',
  'keys.title': '密钥', 'keys.titleOf': '{name} 的密钥', 'keys.none': '还没有密钥，请在上方添加或导入。',
  'keys.noKeys': '无密钥', 'keys.key': '密钥', 'keys.state': '状态', 'keys.health': '密钥健康',
  'keys.lastError': '最近错误', 'keys.weight': '权重', 'keys.rpm': '每分钟请求上限', 'keys.enabled': '启用',
  'keys.weightOf': '{key_masked} 的权重', 'keys.rpmOf': '{key_masked} 的每分钟请求上限',
  'keys.failuresInRow': '连续失败 {consecutive_failures} 次', 'keys.cooldownLeft': '剩余 {s} 秒',
  'keys.test': '测试', 'keys.testOk': '{key_masked} 可用（{status}，{ms} 毫秒）。',
  'keys.testFailed': '{key_masked} 测试失败（{status}）：{error}', 'keys.updated': '{key_masked} 已更新。',
  'keys.confirmDelete': '删除密钥 {key_masked}？', 'keys.addOne': '添加密钥', 'keys.add': '添加',
  'keys.added': '{key_masked} 已添加。', 'keys.batch': '批量导入', 'keys.batchHint': '每行一个密钥，重复的会被跳过。',
  'keys.import': '导入', 'keys.imported': '已导入 {success_count} 个，跳过 {skipped_count} 个重复，失败 {failed_count} 个。',
  'keys.clear': '删除全部密钥', 'keys.confirmClear': '删除 {name} 的全部密钥？', 'keys.cleared': '已删除 {deleted_count} 个密钥。',
  'clientKeys.title': '客户端密钥', 'clientKeys.intro': '应用程序调用网关时使用的密钥。',
  'clientKeys.none': '还没有客户端密钥。', 'clientKeys.create': '新建客户端密钥', 'clientKeys.createButton': '创建密钥',
  'clientKeys.name': '名称', 'clientKeys.allowed': '允许的服务',
  'clientKeys.allowedHint': '不勾选：允许全部服务。', 'clientKeys.all': '全部服务',
  'clientKeys.expires': '过期时间', 'clientKeys.expiresHint': '留空：永不过期。', 'clientKeys.never': '永不',
  'clientKeys.rpmHint': '每分钟请求数；留空：不限制。', 'clientKeys.lastUsed': '最近使用',
  'clientKeys.active': '启用', 'clientKeys.enabled': '{name} 已重新启用。', 'clientKeys.revoked': '{name} 已吊销。',
  'clientKeys.confirmDelete': '删除客户端密钥 {name}？使用它的应用将无法访问。',
  'clientKeys.createdTitle': '客户端密钥 {name} 已创建',
  'clientKeys.shownOnce': '请立即复制：密钥只以哈希形式保存，之后不会再显示。',
  'clientKeys.dismiss': '我已复制',
  'logs.title': '请求日志', 'logs.intro': '每个代理请求一行，最新的在前。从不记录请求体或密钥。',
  'logs.any': '全部', 'logs.service': '服务', 'logs.clientKey': '客户端密钥', 'logs.status': '状态',
  'logs.since': '开始时间', 'logs.until': '结束时间', 'logs.apply': '应用筛选', 'logs.more': '加载更早的',
  'logs.time': '时间', 'logs.formats': '格式', 'logs.model': '模型', 'logs.attempts': '尝试次数',
  'logs.latency': '延迟', 'logs.ttfb': '首字节 {ms} 毫秒', 'logs.shown': '显示 {n} 个请求',
  'logs.none': '没有匹配的请求。',
};

const dictionaries = { en, 'zh-CN': zh };

function initial() {
  const saved = localStorage.getItem('akr.lang');
  if (saved && dictionaries[saved]) return saved;
  return navigator.language?.toLowerCase().startsWith('zh') ? 'zh-CN' : 'en';
}

let current = initial();

export const language = () => current;

export function setLanguage(code) {
  if (!dictionaries[code]) return;
  current = code;
  localStorage.setItem('akr.lang', code);
  document.documentElement.lang = code;
}

export function t(key, vars = {}) {
  const text = dictionaries[current][key] ?? en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (vars[name] ?? `{${name}}`));
}

/** Keys missing from a translation (checked by the browser test). */
export const missing = () => Object.keys(en).filter((k) => !(k in zh));
