# Copyright: contributors to the vmimage.azure collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Private to vmimage.azure: this file may change at any time; do not use it from outside the collection.
#
# The Windows generalization (pre-checks, clean-up, Sysprep, ImageState), shared by two paths:
# - win_sysprep (a host reached over WinRM, PSRP or SSH) loads it as a module_util:
#     #AnsibleRequires -PowerShell ansible_collections.vmimage.azure.plugins.module_utils.VmimageSysprep
# - vm_generalize sends its text through Azure Run Command (RunPowerShellScript), without the
#   Export-ModuleMember line and followed by one call (plugins/module_utils/_guest/scripts.py):
#     ConvertTo-VmimageResultLine -Result (Invoke-VmimageSysprep -DecisionsJson '...' -TimeoutSeconds 3600)
# So this file holds function definitions only, with the Export-ModuleMember line last; it runs on
# Windows PowerShell 3.0 to 5.1 and PowerShell 7 (no ternary, no ?? or && operators, no ::new()).
#
# The decisions are not in this file: what each ImageState means, the message of each pre-check and
# the failed/changed/message of each outcome come in -DecisionsJson, the JSON of decisions() in
# plugins/module_utils/_guest/sysprep.py (win_sysprep takes it from _VmimageSysprepDecisions.psm1).

Function Get-VmimageDecision {
    <#
    .SYNOPSIS
    The entry of a decision table (an object made by ConvertFrom-Json) with the given name, or $null.
    #>
    [CmdletBinding()]
    param (
        [AllowNull()]
        [object]
        $Table,

        [AllowEmptyString()]
        [string]
        $Name
    )

    if ($null -eq $Table -or [string]::IsNullOrEmpty($Name)) {
        return $null
    }
    $property = $Table.PSObject.Properties[$Name]
    if ($null -eq $property) {
        return $null
    }
    return $property.Value
}

Function Format-VmimageMessage {
    <#
    .SYNOPSIS
    A message template with {detail} replaced by plain text substitution, as sysprep.py does it.
    #>
    [CmdletBinding()]
    param (
        [AllowEmptyString()]
        [string]
        $Template,

        [AllowEmptyString()]
        [string]
        $Detail
    )

    return $Template.Replace('{detail}', $Detail)
}

Function Get-VmimageSystemDirectory {
    <#
    .SYNOPSIS
    The System32 directory as a 64-bit process sees it (Sysnative from a 32-bit PowerShell on 64-bit Windows).
    #>
    [CmdletBinding()]
    param ()

    if ([Environment]::Is64BitOperatingSystem -and -not [Environment]::Is64BitProcess) {
        return (Join-Path -Path $env:SystemRoot -ChildPath 'Sysnative')
    }
    return (Join-Path -Path $env:SystemRoot -ChildPath 'System32')
}

Function Open-VmimageRegistryKey {
    <#
    .SYNOPSIS
    Opens a key of HKEY_LOCAL_MACHINE read-only in its 64-bit view (no WOW64 redirection), or returns $null.
    #>
    [CmdletBinding()]
    param (
        [Parameter(Mandatory = $true)]
        [string]
        $SubKey
    )

    $view = [Microsoft.Win32.RegistryView]::Default
    if ([Environment]::Is64BitOperatingSystem) {
        $view = [Microsoft.Win32.RegistryView]::Registry64
    }
    $base = [Microsoft.Win32.RegistryKey]::OpenBaseKey([Microsoft.Win32.RegistryHive]::LocalMachine, $view)
    try {
        return $base.OpenSubKey($SubKey, $false)
    }
    finally {
        $base.Close()
    }
}

Function Test-VmimageRegistryKey {
    <#
    .SYNOPSIS
    Whether a key of HKEY_LOCAL_MACHINE exists.
    #>
    [CmdletBinding()]
    param (
        [Parameter(Mandatory = $true)]
        [string]
        $SubKey
    )

    $key = Open-VmimageRegistryKey -SubKey $SubKey
    if ($null -eq $key) {
        return $false
    }
    $key.Close()
    return $true
}

Function Get-VmimageRegistryValue {
    <#
    .SYNOPSIS
    A value of a key of HKEY_LOCAL_MACHINE, or $null when the key or the value does not exist.
    A REG_MULTI_SZ value is returned as one array (use @() around the call).
    #>
    [CmdletBinding()]
    param (
        [Parameter(Mandatory = $true)]
        [string]
        $SubKey,

        [Parameter(Mandatory = $true)]
        [string]
        $Name
    )

    $key = Open-VmimageRegistryKey -SubKey $SubKey
    if ($null -eq $key) {
        return $null
    }
    try {
        return $key.GetValue($Name)
    }
    finally {
        $key.Close()
    }
}

Function Get-VmimageImageState {
    <#
    .SYNOPSIS
    ImageState from HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\Setup\State, or '' when there is none.
    #>
    [CmdletBinding()]
    param ()

    $value = Get-VmimageRegistryValue -SubKey 'SOFTWARE\Microsoft\Windows\CurrentVersion\Setup\State' -Name 'ImageState'
    if ($null -eq $value) {
        return ''
    }
    return [string]$value
}

Function Get-VmimageStateEntry {
    <#
    .SYNOPSIS
    The decision for an ImageState: its entry of the states table, or the unknown_state entry.
    #>
    [CmdletBinding()]
    param (
        [Parameter(Mandatory = $true)]
        [object]
        $Decisions,

        [AllowEmptyString()]
        [string]
        $State
    )

    $entry = Get-VmimageDecision -Table $Decisions.states -Name $State
    if ($null -eq $entry) {
        $entry = $Decisions.unknown_state
    }
    return $entry
}

Function Get-VmimagePendingReboot {
    <#
    .SYNOPSIS
    The reasons a reboot is pending (none when it is not).
    #>
    [CmdletBinding()]
    param ()

    if (Test-VmimageRegistryKey -SubKey 'SOFTWARE\Microsoft\Windows\CurrentVersion\Component Based Servicing\RebootPending') {
        'Component Based Servicing\RebootPending'
    }
    if (Test-VmimageRegistryKey -SubKey 'SOFTWARE\Microsoft\Windows\CurrentVersion\WindowsUpdate\Auto Update\RebootRequired') {
        'WindowsUpdate\Auto Update\RebootRequired'
    }
    $renames = @(
        Get-VmimageRegistryValue -SubKey 'SYSTEM\CurrentControlSet\Control\Session Manager' -Name 'PendingFileRenameOperations' |
            Where-Object { -not [string]::IsNullOrEmpty($_) }
    )
    if ($renames.Count -gt 0) {
        'Session Manager\PendingFileRenameOperations'
    }
}

Function Get-VmimageBitLockerStatus {
    <#
    .SYNOPSIS
    The BitLocker status of the system drive (Status as VolumeStatus names it, Percent encrypted), or $null
    when BitLocker is not installed.
    #>
    [CmdletBinding()]
    param ()

    $drive = $env:SystemDrive
    if ($null -ne (Get-Command -Name 'Get-BitLockerVolume' -ErrorAction SilentlyContinue)) {
        try {
            $volume = Get-BitLockerVolume -MountPoint $drive -ErrorAction Stop
            return @{ Status = [string]$volume.VolumeStatus; Percent = [int]$volume.EncryptionPercentage }
        }
        catch {
            $volume = $null
        }
    }
    # Server editions without the BitLocker cmdlets: the WMI provider, when the feature is installed.
    $names = @('FullyDecrypted', 'FullyEncrypted', 'EncryptionInProgress', 'DecryptionInProgress', 'EncryptionPaused', 'DecryptionPaused')
    $query = @{
        Namespace = 'root/cimv2/Security/MicrosoftVolumeEncryption'
        ClassName = 'Win32_EncryptableVolume'
        Filter = "DriveLetter = '{0}'" -f $drive
        ErrorAction = 'Stop'
    }
    try {
        $cim = Get-CimInstance @query | Select-Object -First 1
        if ($null -eq $cim) {
            return $null
        }
        $conversion = Invoke-CimMethod -InputObject $cim -MethodName 'GetConversionStatus' -ErrorAction Stop
    }
    catch {
        return $null
    }
    if ($conversion.ReturnValue -ne 0) {
        return $null
    }
    $code = [int]$conversion.ConversionStatus
    $status = 'ConversionStatus {0}' -f $code
    if ($code -ge 0 -and $code -lt $names.Count) {
        $status = $names[$code]
    }
    return @{ Status = $status; Percent = [int]$conversion.EncryptionPercentage }
}

Function Get-VmimageUnattendFile {
    <#
    .SYNOPSIS
    The answer files Windows Setup would find by itself at the next boot (implicit search locations).
    #>
    [CmdletBinding()]
    param ()

    $folders = @(
        (Join-Path -Path $env:SystemRoot -ChildPath 'Panther\Unattend'),
        (Join-Path -Path $env:SystemRoot -ChildPath 'Panther'),
        (Join-Path -Path (Get-VmimageSystemDirectory) -ChildPath 'Sysprep'),
        ($env:SystemDrive + '\')
    )
    foreach ($folder in $folders) {
        foreach ($name in @('Unattend.xml', 'Autounattend.xml')) {
            $path = Join-Path -Path $folder -ChildPath $name
            if (Test-Path -LiteralPath $path -PathType Leaf) {
                $path
            }
        }
    }
}

Function Get-VmimageSetupLogTail {
    <#
    .SYNOPSIS
    The last lines of Sysprep's setupact.log as one string (or why there are none).
    #>
    [CmdletBinding()]
    param (
        [int]
        $Lines = 40
    )

    $log = Join-Path -Path (Get-VmimageSystemDirectory) -ChildPath 'Sysprep\Panther\setupact.log'
    if (-not (Test-Path -LiteralPath $log -PathType Leaf)) {
        return ('{0} does not exist' -f $log)
    }
    try {
        $tail = @(Get-Content -LiteralPath $log -Tail $Lines -ErrorAction Stop)
    }
    catch {
        return ('{0} could not be read: {1}' -f $log, $_.Exception.Message)
    }
    return ($tail -join "`n")
}

Function New-VmimageCheck {
    <#
    .SYNOPSIS
    The record of one pre-check: passed, failed (a blocking check with a problem), found (a problem the
    run fixes) or skipped; failed and found ones get the message of the pre-check table.
    #>
    [CmdletBinding()]
    param (
        [Parameter(Mandatory = $true)]
        [object]
        $Decisions,

        [Parameter(Mandatory = $true)]
        [string]
        $Name,

        [switch]
        $Problem,

        [switch]
        $Skipped,

        [AllowEmptyString()]
        [string]
        $Detail = '',

        [AllowEmptyString()]
        [string]
        $Extra = ''
    )

    $entry = Get-VmimageDecision -Table $Decisions.prechecks -Name $Name
    if ($null -eq $entry) {
        throw ('the decisions have no pre-check named {0}' -f $Name)
    }
    $status = 'passed'
    $message = ''
    if ($Skipped) {
        $status = 'skipped'
    }
    elseif ($Problem) {
        $status = 'found'
        if ($entry.blocking) {
            $status = 'failed'
        }
        $message = Format-VmimageMessage -Template $entry.message -Detail $Detail
        if ($Extra) {
            $message = '{0} {1}' -f $message, $Extra
        }
    }
    return [ordered]@{ name = $Name; status = $status; detail = $Detail; message = $message }
}

Function Add-VmimageStep {
    <#
    .SYNOPSIS
    Adds the record of one step (done, failed or would_run) to a list.
    #>
    [CmdletBinding()]
    param (
        [Parameter(Mandatory = $true)]
        [AllowEmptyCollection()]
        [System.Collections.ArrayList]
        $Steps,

        [Parameter(Mandatory = $true)]
        [string]
        $Name,

        [Parameter(Mandatory = $true)]
        [ValidateSet('done', 'failed', 'would_run')]
        [string]
        $Status,

        [AllowEmptyString()]
        [string]
        $Detail = ''
    )

    $null = $Steps.Add([ordered]@{ name = $Name; status = $Status; detail = $Detail })
}

Function Set-VmimageOutcome {
    <#
    .SYNOPSIS
    Sets a result's outcome, and its failed, changed and message from the results table.
    #>
    [CmdletBinding()]
    param (
        [Parameter(Mandatory = $true)]
        [System.Collections.IDictionary]
        $Result,

        [AllowNull()]
        [object]
        $Decisions,

        [Parameter(Mandatory = $true)]
        [string]
        $Outcome,

        [AllowEmptyString()]
        [string]
        $Detail = ''
    )

    $entry = $null
    if ($null -ne $Decisions) {
        $entry = Get-VmimageDecision -Table $Decisions.results -Name $Outcome
    }
    $Result.outcome = $Outcome
    if ($null -eq $entry) {
        # Only when -DecisionsJson itself could not be read (or names no such outcome).
        $Result.failed = $true
        $Result.changed = $false
        $Result.message = 'The Sysprep script failed unexpectedly ({0}): {1}' -f $Outcome, $Detail
        return
    }
    $Result.failed = [bool]$entry.failed
    $Result.changed = [bool]$entry.changed
    $Result.message = Format-VmimageMessage -Template $entry.message -Detail $Detail
}

Function Invoke-VmimagePrecheck {
    <#
    .SYNOPSIS
    Runs every pre-check after the ImageState one, adding their records; returns @{ Unattend = the answer files found }.
    #>
    [CmdletBinding()]
    param (
        [Parameter(Mandatory = $true)]
        [object]
        $Decisions,

        [Parameter(Mandatory = $true)]
        [AllowEmptyCollection()]
        [System.Collections.ArrayList]
        $Checks,

        [Parameter(Mandatory = $true)]
        [string]
        $Sysprep
    )

    $found = -not (Test-Path -LiteralPath $Sysprep -PathType Leaf)
    $null = $Checks.Add((New-VmimageCheck -Decisions $Decisions -Name 'sysprep_exe' -Problem:$found -Detail $Sysprep))

    $running = @(Get-Process -Name 'sysprep' -ErrorAction SilentlyContinue)
    $ids = @($running | ForEach-Object { $_.Id }) -join ', '
    $found = $running.Count -gt 0
    $null = $Checks.Add((New-VmimageCheck -Decisions $Decisions -Name 'sysprep_running' -Problem:$found -Detail $ids))

    $found = Test-VmimageRegistryKey -SubKey 'SYSTEM\Setup\Upgrade'
    $null = $Checks.Add((New-VmimageCheck -Decisions $Decisions -Name 'upgrade' -Problem:$found -Detail 'HKLM:\SYSTEM\Setup\Upgrade'))

    $reasons = @(Get-VmimagePendingReboot)
    $found = $reasons.Count -gt 0
    $null = $Checks.Add((New-VmimageCheck -Decisions $Decisions -Name 'pending_reboot' -Problem:$found -Detail ($reasons -join ', ')))

    $bitlocker = Get-VmimageBitLockerStatus
    if ($null -eq $bitlocker) {
        $null = $Checks.Add((New-VmimageCheck -Decisions $Decisions -Name 'bitlocker' -Skipped -Detail 'BitLocker is not installed'))
    }
    else {
        $found = $bitlocker.Status -ne 'FullyDecrypted'
        $detail = 'VolumeStatus {0}, {1}% encrypted' -f $bitlocker.Status, $bitlocker.Percent
        $null = $Checks.Add((New-VmimageCheck -Decisions $Decisions -Name 'bitlocker' -Problem:$found -Detail $detail))
    }

    $unattend = @(Get-VmimageUnattendFile)
    $found = $unattend.Count -gt 0
    $null = $Checks.Add((New-VmimageCheck -Decisions $Decisions -Name 'unattend' -Problem:$found -Detail ($unattend -join ', ')))
    return @{ Unattend = $unattend }
}

Function Remove-VmimageLeftover {
    <#
    .SYNOPSIS
    Removes C:\Windows\Panther and the leftover answer files; returns what was removed and what was not.
    #>
    [CmdletBinding()]
    param (
        [AllowEmptyCollection()]
        [string[]]
        $Unattend = @()
    )

    $removed = New-Object -TypeName System.Collections.ArrayList
    $problems = New-Object -TypeName System.Collections.ArrayList
    $targets = @(Join-Path -Path $env:SystemRoot -ChildPath 'Panther') + @($Unattend)
    foreach ($target in $targets) {
        # A file under Panther is gone with it.
        if (-not (Test-Path -LiteralPath $target)) {
            continue
        }
        try {
            Remove-Item -LiteralPath $target -Recurse -Force -ErrorAction Stop
            $null = $removed.Add($target)
        }
        catch {
            $null = $problems.Add(('{0}: {1}' -f $target, $_.Exception.Message))
        }
    }
    return @{ Removed = $removed.ToArray(); Problems = $problems.ToArray() }
}

Function Invoke-VmimageShutdown {
    <#
    .SYNOPSIS
    Schedules a shutdown in a few seconds (so that the caller can still report); returns '' or what failed.
    #>
    [CmdletBinding()]
    param (
        [int]
        $DelaySeconds = 10
    )

    $command = Join-Path -Path (Get-VmimageSystemDirectory) -ChildPath 'shutdown.exe'
    $arguments = '/s /t {0} /c "Generalized by Sysprep (vmimage.azure)"' -f $DelaySeconds
    try {
        $process = Start-Process -FilePath $command -ArgumentList $arguments -Wait -PassThru
    }
    catch {
        return ('{0} {1}: {2}' -f $command, $arguments, $_.Exception.Message)
    }
    if ($process.ExitCode -ne 0) {
        return ('{0} {1} exited with code {2}' -f $command, $arguments, $process.ExitCode)
    }
    return ''
}

Function Invoke-VmimageSysprepRun {
    <#
    .SYNOPSIS
    The work of Invoke-VmimageSysprep: fills in the result, the pre-checks and the steps.
    #>
    [CmdletBinding()]
    param (
        [Parameter(Mandatory = $true)]
        [System.Collections.IDictionary]
        $Result,

        [Parameter(Mandatory = $true)]
        [object]
        $Decisions,

        [Parameter(Mandatory = $true)]
        [AllowEmptyCollection()]
        [System.Collections.ArrayList]
        $Checks,

        [Parameter(Mandatory = $true)]
        [AllowEmptyCollection()]
        [System.Collections.ArrayList]
        $Steps,

        [int]
        $TimeoutSeconds,

        [int]
        $PollSeconds,

        [switch]
        $Shutdown,

        [switch]
        $CheckMode
    )

    $sysprep = Join-Path -Path (Get-VmimageSystemDirectory) -ChildPath 'Sysprep\Sysprep.exe'
    $arguments = '/generalize /oobe /quit /quiet /mode:vm'

    # ImageState first: already generalized means nothing to do; only some states may be generalized.
    $state = Get-VmimageImageState
    $Result.image_state = $state
    $entry = Get-VmimageStateEntry -Decisions $Decisions -State $state
    if ($entry.before -eq 'done') {
        $null = $Checks.Add((New-VmimageCheck -Decisions $Decisions -Name 'image_state' -Detail $state))
        Set-VmimageOutcome -Result $Result -Decisions $Decisions -Outcome 'unchanged' -Detail $state
        return
    }
    $found = $entry.before -ne 'run'
    $extra = Format-VmimageMessage -Template $entry.message -Detail $state
    $null = $Checks.Add((New-VmimageCheck -Decisions $Decisions -Name 'image_state' -Problem:$found -Detail $state -Extra $extra))

    $unattend = @((Invoke-VmimagePrecheck -Decisions $Decisions -Checks $Checks -Sysprep $sysprep).Unattend)
    $failed = @($Checks | Where-Object { $_.status -eq 'failed' } | ForEach-Object { $_.message })
    if ($failed.Count -gt 0) {
        Set-VmimageOutcome -Result $Result -Decisions $Decisions -Outcome 'precheck_failed' -Detail ($failed -join ' ')
        return
    }

    $panther = Join-Path -Path $env:SystemRoot -ChildPath 'Panther'
    $command = '{0} {1}' -f $sysprep, $arguments
    if ($CheckMode) {
        $targets = @(@($panther) + $unattend | Where-Object { Test-Path -LiteralPath $_ })
        $detail = 'nothing to remove'
        if ($targets.Count -gt 0) {
            $detail = 'remove {0}' -f ($targets -join ', ')
        }
        Add-VmimageStep -Steps $Steps -Name 'clean' -Status 'would_run' -Detail $detail
        Add-VmimageStep -Steps $Steps -Name 'sysprep' -Status 'would_run' -Detail $command
        $detail = 'up to {0} seconds for {1}' -f $TimeoutSeconds, $Decisions.good_state
        Add-VmimageStep -Steps $Steps -Name 'wait' -Status 'would_run' -Detail $detail
        if ($Shutdown) {
            Add-VmimageStep -Steps $Steps -Name 'shutdown' -Status 'would_run' -Detail 'shutdown.exe /s'
        }
        Set-VmimageOutcome -Result $Result -Decisions $Decisions -Outcome 'would_generalize' -Detail $command
        return
    }

    # Clean: Panther (answer files and logs of the installation this machine came from) and leftover answer files.
    $cleaned = Remove-VmimageLeftover -Unattend $unattend
    $detail = 'nothing to remove'
    if (@($cleaned.Removed).Count -gt 0) {
        $detail = 'removed: {0}' -f (@($cleaned.Removed) -join ', ')
    }
    if (@($cleaned.Problems).Count -gt 0) {
        $detail = '{0}; not removed: {1}' -f $detail, (@($cleaned.Problems) -join '; ')
    }
    $left = @(Get-VmimageUnattendFile)
    if ($left.Count -gt 0) {
        Add-VmimageStep -Steps $Steps -Name 'clean' -Status 'failed' -Detail $detail
        Set-VmimageOutcome -Result $Result -Decisions $Decisions -Outcome 'clean_failed' -Detail ($left -join ', ')
        return
    }
    Add-VmimageStep -Steps $Steps -Name 'clean' -Status 'done' -Detail $detail

    # Sysprep, then ImageState until the good state, Sysprep's exit or the deadline.
    $started = Get-Date
    $process = Start-Process -FilePath $sysprep -ArgumentList $arguments -WorkingDirectory (Split-Path -Path $sysprep -Parent) -PassThru
    # Windows PowerShell only keeps the exit code of a process whose handle was opened while it ran.
    $null = $process.Handle
    Add-VmimageStep -Steps $Steps -Name 'sysprep' -Status 'done' -Detail ('process {0}: {1}' -f $process.Id, $command)

    $deadline = $started.AddSeconds($TimeoutSeconds)
    $exited = $false
    $timedOut = $false
    while ($true) {
        $state = Get-VmimageImageState
        $entry = Get-VmimageStateEntry -Decisions $Decisions -State $state
        if ($entry.after -eq 'success' -or $exited) {
            break
        }
        if ($process.HasExited) {
            # Read ImageState once more: Sysprep sets it before it quits.
            $exited = $true
            continue
        }
        if ((Get-Date) -ge $deadline) {
            $timedOut = $true
            break
        }
        Start-Sleep -Seconds $PollSeconds
    }
    $Result.image_state = $state
    $elapsed = [int]((Get-Date) - $started).TotalSeconds

    if ($entry.after -ne 'success') {
        $Result.log_tail = Get-VmimageSetupLogTail
        if ($timedOut) {
            $detail = '{0} seconds; ImageState is {1} and Sysprep (process {2}) is still running' -f $TimeoutSeconds, $state, $process.Id
            Add-VmimageStep -Steps $Steps -Name 'wait' -Status 'failed' -Detail $detail
            Set-VmimageOutcome -Result $Result -Decisions $Decisions -Outcome 'timeout' -Detail $detail
            return
        }
        $why = Format-VmimageMessage -Template $entry.message -Detail $state
        $detail = 'Sysprep exited with code {0} after {1} seconds. {2}' -f $process.ExitCode, $elapsed, $why
        Add-VmimageStep -Steps $Steps -Name 'wait' -Status 'failed' -Detail ('ImageState {0}' -f $state)
        Set-VmimageOutcome -Result $Result -Decisions $Decisions -Outcome 'sysprep_failed' -Detail $detail
        return
    }
    # Sysprep sets the state just before it quits: give it the time left, at least a minute, to exit.
    if (-not $process.HasExited) {
        $wait = [Math]::Max(60, [int]($deadline - (Get-Date)).TotalSeconds)
        $null = $process.WaitForExit($wait * 1000)
    }
    Add-VmimageStep -Steps $Steps -Name 'wait' -Status 'done' -Detail ('{0} after {1} seconds' -f $state, $elapsed)

    if ($Shutdown) {
        $problem = Invoke-VmimageShutdown
        if ($problem) {
            Add-VmimageStep -Steps $Steps -Name 'shutdown' -Status 'failed' -Detail $problem
            Set-VmimageOutcome -Result $Result -Decisions $Decisions -Outcome 'shutdown_failed' -Detail $problem
            return
        }
        Add-VmimageStep -Steps $Steps -Name 'shutdown' -Status 'done' -Detail 'shutdown.exe /s in 10 seconds'
    }
    Set-VmimageOutcome -Result $Result -Decisions $Decisions -Outcome 'generalized' -Detail $elapsed
}

Function Invoke-VmimageSysprep {
    <#
    .SYNOPSIS
    Generalizes this Windows installation with Sysprep, after pre-checks, and returns the result.

    .DESCRIPTION
    The result is an ordered dictionary: image_state (the last ImageState read), outcome (a key of the
    results table), failed, changed, message, log_tail (the end of Sysprep's setupact.log when Sysprep
    did not generalize Windows), prechecks (name, status, detail, message) and steps (name, status,
    detail). It never throws: an unexpected error is the outcome 'error'.

    .PARAMETER DecisionsJson
    The JSON of decisions() in plugins/module_utils/_guest/sysprep.py.

    .PARAMETER TimeoutSeconds
    How long to wait for Sysprep to reach the good ImageState.

    .PARAMETER PollSeconds
    How often to read ImageState while Sysprep runs.

    .PARAMETER Shutdown
    Shut Windows down once it is generalized.

    .PARAMETER CheckMode
    Run the pre-checks only and report what would be done.
    #>
    [CmdletBinding()]
    param (
        [Parameter(Mandatory = $true)]
        [string]
        $DecisionsJson,

        [ValidateRange(1, 86400)]
        [int]
        $TimeoutSeconds = 3600,

        [ValidateRange(1, 600)]
        [int]
        $PollSeconds = 10,

        [switch]
        $Shutdown,

        [switch]
        $CheckMode
    )

    $ErrorActionPreference = 'Stop'
    $result = [ordered]@{
        image_state = ''
        outcome = 'error'
        changed = $false
        failed = $true
        message = ''
        log_tail = ''
        prechecks = @()
        steps = @()
    }
    $checks = New-Object -TypeName System.Collections.ArrayList
    $steps = New-Object -TypeName System.Collections.ArrayList
    $decisions = $null
    try {
        $decisions = ConvertFrom-Json -InputObject $DecisionsJson
        $run = @{
            Result = $result
            Decisions = $decisions
            Checks = $checks
            Steps = $steps
            TimeoutSeconds = $TimeoutSeconds
            PollSeconds = $PollSeconds
            Shutdown = $Shutdown
            CheckMode = $CheckMode
        }
        # Nothing but the result may reach the output (it is the function's return value).
        $null = Invoke-VmimageSysprepRun @run
    }
    catch {
        $detail = '{0} (line {1})' -f $_.Exception.Message, $_.InvocationInfo.ScriptLineNumber
        Set-VmimageOutcome -Result $result -Decisions $decisions -Outcome 'error' -Detail $detail
    }
    $result.prechecks = $checks.ToArray()
    $result.steps = $steps.ToArray()
    return $result
}

Function ConvertTo-VmimageResultLine {
    <#
    .SYNOPSIS
    The one machine-readable line of a result: 'VMIMAGE_RESULT ' and compact JSON, at most MaxBytes.

    .DESCRIPTION
    Run Command returns only the last 4096 bytes of a script's output, so the line is kept shorter by
    dropping the oldest lines of log_tail first.
    #>
    [CmdletBinding()]
    param (
        [Parameter(Mandatory = $true)]
        [System.Collections.IDictionary]
        $Result,

        [int]
        $MaxBytes = 3800
    )

    $encoding = New-Object -TypeName System.Text.UTF8Encoding -ArgumentList $false
    while ($true) {
        $line = 'VMIMAGE_RESULT ' + (ConvertTo-Json -InputObject $Result -Compress -Depth 5)
        $tail = [string]$Result.log_tail
        if ($encoding.GetByteCount($line) -le $MaxBytes -or $tail.Length -eq 0) {
            return $line
        }
        $cut = $tail.IndexOf("`n")
        if ($cut -lt 0) {
            $Result.log_tail = ''
        }
        else {
            $Result.log_tail = $tail.Substring($cut + 1)
        }
    }
}

Export-ModuleMember -Function 'Invoke-VmimageSysprep', 'ConvertTo-VmimageResultLine'
