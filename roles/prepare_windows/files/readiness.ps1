# Private to vmimage.azure (roles/prepare_windows): the readiness report. Checks, from the same data the
# role's tasks apply (vars/main.yml, passed in as parameters), each checklist item that is switched on and
# writes one object per item: name, ok, detail. Reads only. Run by ansible.windows.win_powershell.
[CmdletBinding(SupportsShouldProcess)]
param (
    [string[]] $Items = @(),
    [object[]] $Services = @(),
    [object[]] $Registry = @(),
    [object[]] $Bcd = @(),
    [object[]] $FirewallRules = @(),
    [string[]] $FirewallProfiles = @(),
    [string[]] $RoutesKeep = @(),
    [string] $SanPolicy = 'OnlineAll',
    [string] $PowerScheme = '',
    [object[]] $PowerSettings = @(),
    [string[]] $AgentServices = @()
)

$Ansible.Changed = $false
$problems = [ordered]@{}
foreach ($name in $Items) {
    $problems[$name] = [System.Collections.Generic.List[string]]::new()
}

Function Add-Problem {
    param ([string] $Item, [string] $Text)
    if ($problems.Contains($Item)) {
        $problems[$Item].Add($Text)
    }
}

Function Test-Item {
    param ([string] $Item)
    return $problems.Contains($Item)
}

Function ConvertTo-BcdValue {
    param ([string] $Value)
    $text = $Value.Trim()
    if ($text -match '^(yes|on|true|enable|enabled)$') {
        return 'yes'
    }
    if ($text -match '^(no|off|false|disable|disabled)$') {
        return 'no'
    }
    return $text.ToLowerInvariant()
}

$kinds = @{
    dword = 'DWord'
    qword = 'QWord'
    string = 'String'
    expandstring = 'ExpandString'
    multistring = 'MultiString'
    binary = 'Binary'
    none = 'None'
}
$startTypes = @{
    auto = 'Automatic'
    delayed = 'Automatic'
    manual = 'Manual'
    disabled = 'Disabled'
}

# Registry values.
foreach ($entry in $Registry) {
    $label = '{0}\{1}' -f $entry.path, $entry.name
    $key = Get-Item -LiteralPath $entry.path -ErrorAction SilentlyContinue
    $exists = ($null -ne $key) -and (@($key.GetValueNames()) -contains $entry.name)
    if ($entry.state -eq 'absent') {
        if ($exists) {
            Add-Problem $entry.step "$label is set (must be removed)"
        }
        continue
    }
    if (-not $exists) {
        Add-Problem $entry.step "$label is missing"
        continue
    }
    $type = 'string'
    if ($entry.type) {
        $type = [string]$entry.type
    }
    $kind = [string]$key.GetValueKind($entry.name)
    $actual = $key.GetValue($entry.name, $null, 'DoNotExpandEnvironmentNames')
    if ($kind -ne $kinds[$type]) {
        Add-Problem $entry.step "$label is $kind (must be $($kinds[$type]))"
        continue
    }
    if ($type -eq 'dword' -or $type -eq 'qword') {
        $same = ([decimal]([int64]$actual -band 4294967295) -eq [decimal]$entry.data) -or ([decimal]$actual -eq [decimal]$entry.data)
    }
    elseif ($type -eq 'multistring') {
        $same = (@($actual) -join "`n") -eq (@($entry.data) -join "`n")
    }
    else {
        $same = [string]$actual -eq [string]$entry.data
    }
    if (-not $same) {
        Add-Problem $entry.step "$label is '$(@($actual) -join ',')' (must be '$(@($entry.data) -join ',')')"
    }
}

# Services and their start types.
foreach ($entry in $Services) {
    $service = Get-Service -Name $entry.name -ErrorAction SilentlyContinue
    if (-not $service) {
        if (-not $entry.optional) {
            Add-Problem $entry.step "service $($entry.name) is not installed"
        }
        continue
    }
    $wanted = $startTypes[[string]$entry.start_mode]
    if ([string]$service.StartType -ne $wanted) {
        Add-Problem $entry.step "service $($entry.name) starts $($service.StartType) (must be $wanted)"
    }
}

# Persistent routes.
if (Test-Item 'routes') {
    foreach ($route in @(Get-NetRoute -PolicyStore PersistentStore -ErrorAction SilentlyContinue)) {
        if ($RoutesKeep -notcontains $route.DestinationPrefix) {
            Add-Problem 'routes' "persistent route $($route.DestinationPrefix) via $($route.NextHop)"
        }
    }
}

# WinHTTP proxy: WinHttpSettings holds the proxy string's length at offset 12 (none after a reset).
if (Test-Item 'winhttp_proxy') {
    $connections = Get-Item -LiteralPath 'HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\Internet Settings\Connections' -ErrorAction SilentlyContinue
    if ($null -ne $connections -and (@($connections.GetValueNames()) -contains 'WinHttpSettings')) {
        $bytes = [byte[]]$connections.GetValue('WinHttpSettings')
        if ($bytes.Length -ge 16 -and [BitConverter]::ToInt32($bytes, 12) -gt 0) {
            Add-Problem 'winhttp_proxy' 'a WinHTTP proxy is set (netsh.exe winhttp reset proxy)'
        }
    }
}

# SAN policy.
if (Test-Item 'san_policy') {
    $policy = [string](Get-StorageSetting -ErrorAction SilentlyContinue).NewDiskPolicy
    if ($policy -ne $SanPolicy) {
        Add-Problem 'san_policy' "SAN policy is '$policy' (must be $SanPolicy)"
    }
}

# Power plan and settings.
if (Test-Item 'power') {
    $text = (& powercfg.exe /getactivescheme) -join "`n"
    $found = [regex]::Match($text, '[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}')
    if ($PowerScheme -and (-not $found.Success -or $found.Value.ToLowerInvariant() -ne $PowerScheme.ToLowerInvariant())) {
        Add-Problem 'power' "active power scheme is '$($found.Value)' (must be $PowerScheme)"
    }
    foreach ($entry in $PowerSettings) {
        $query = (& powercfg.exe /query SCHEME_CURRENT $entry.subgroup $entry.setting) -join "`n"
        $numbers = [regex]::Matches($query, '0x([0-9a-fA-F]{8})')
        $value = $null
        if ($numbers.Count -ge 2) {
            $value = [Convert]::ToInt64($numbers[$numbers.Count - 2].Groups[1].Value, 16)
        }
        if ($value -ne [int64]$entry.ac_value) {
            Add-Problem $entry.step "power setting $($entry.subgroup) $($entry.setting) AC is '$value' (must be $($entry.ac_value))"
        }
    }
}

# Firewall profiles and rules.
if (Test-Item 'firewall') {
    foreach ($profileName in $FirewallProfiles) {
        $fwProfile = Get-NetFirewallProfile -Name $profileName -ErrorAction SilentlyContinue
        if (-not $fwProfile -or [string]$fwProfile.Enabled -ne 'True') {
            Add-Problem 'firewall' "firewall profile $profileName is off"
        }
    }
}
foreach ($entry in $FirewallRules) {
    if ($entry.display_group) {
        $rules = @(Get-NetFirewallRule -DisplayGroup $entry.display_group -ErrorAction SilentlyContinue)
        $label = "firewall group '$($entry.display_group)'"
    }
    else {
        $rules = @(Get-NetFirewallRule -Name $entry.name -ErrorAction SilentlyContinue)
        $label = "firewall rule $($entry.name)"
    }
    if ($rules.Count -eq 0) {
        if (-not $entry.optional) {
            Add-Problem $entry.step "$label not found"
        }
        continue
    }
    $off = @($rules | Where-Object { [string]$_.Enabled -ne 'True' } | ForEach-Object { $_.Name })
    if ($off.Count -gt 0) {
        Add-Problem $entry.step "$label has disabled rules: $($off -join ', ')"
    }
    if ($entry.create) {
        $address = @($rules[0] | Get-NetFirewallAddressFilter).RemoteAddress -join ','
        if ($address -ne [string]$entry.remote_address) {
            Add-Problem $entry.step "$label remote address is '$address' (must be $($entry.remote_address))"
        }
    }
}

# WinRM.
if (Test-Item 'winrm') {
    $winrm = Get-Service -Name WinRM -ErrorAction SilentlyContinue
    if (-not $winrm -or [string]$winrm.StartType -ne 'Automatic' -or $winrm.Status -ne 'Running') {
        Add-Problem 'winrm' 'the WinRM service is not running with automatic start'
    }
    elseif (@(Get-ChildItem -Path WSMan:\localhost\Listener -ErrorAction SilentlyContinue).Count -eq 0) {
        Add-Problem 'winrm' 'WinRM has no listener'
    }
}

# Boot configuration.
$bcdCache = @{}
foreach ($entry in $Bcd) {
    if (-not $bcdCache.ContainsKey($entry.id)) {
        $elements = @{}
        foreach ($line in @(& bcdedit.exe /enum $entry.id 2>$null)) {
            if ($line -match '^(\S+)\s+(.+)$') {
                $elements[$Matches[1].ToLowerInvariant()] = $Matches[2]
            }
        }
        $bcdCache[$entry.id] = $elements
    }
    $current = $bcdCache[$entry.id][([string]$entry.element).ToLowerInvariant()]
    if ($null -eq $current -or (ConvertTo-BcdValue $current) -ne (ConvertTo-BcdValue ([string]$entry.value))) {
        Add-Problem $entry.step "bcd $($entry.id) $($entry.element) is '$current' (must be $($entry.value))"
    }
}

# Azure VM agent.
if (Test-Item 'agent') {
    foreach ($name in $AgentServices) {
        if (-not (Get-Service -Name $name -ErrorAction SilentlyContinue)) {
            Add-Problem 'agent' "service $name is not installed"
        }
    }
}

foreach ($name in $problems.Keys) {
    $found = $problems[$name]
    $detail = 'ready'
    if ($found.Count -gt 0) {
        $detail = $found -join '; '
    }
    [PSCustomObject]@{
        name = $name
        ok = ($found.Count -eq 0)
        detail = $detail
    }
}
