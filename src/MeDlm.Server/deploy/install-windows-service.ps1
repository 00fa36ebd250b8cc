<#
.SYNOPSIS
    Installs or removes the MeDlm server as a Windows service.

.DESCRIPTION
    Install copies a self-contained win-x64 publish (dotnet publish src/MeDlm.Server -c Release -r win-x64
    --self-contained -o publish) to the install folder, registers MeDlm.Server.exe as an automatic service
    that restarts on failure, and starts it. Remove stops and deletes the service (and, with -DeleteFiles,
    the install folder). Run from an elevated PowerShell.

    Configuration: appsettings.json in the install folder, or machine environment variables such as
    Model__Path, Urls, Auth__ApiKey (set them before starting the service).

.EXAMPLE
    .\install-windows-service.ps1 -Action Install -PublishDir ..\..\..\publish
.EXAMPLE
    .\install-windows-service.ps1 -Action Remove -DeleteFiles
#>
[CmdletBinding(SupportsShouldProcess)]
param(
    [Parameter(Mandatory)]
    [ValidateSet('Install', 'Remove')]
    [string] $Action,

    # The folder holding the published MeDlm.Server.exe (Install only).
    [string] $PublishDir = (Join-Path $PSScriptRoot 'publish'),

    [string] $InstallDir = (Join-Path $env:ProgramFiles 'MeDlm Server'),

    # Must match ServerApp.ServiceName for the service to report its state correctly.
    [string] $ServiceName = 'medlm-server',

    # Service account; the default virtual account has no rights beyond reading the install folder.
    [string] $Account = "NT SERVICE\medlm-server",

    [switch] $DeleteFiles
)

$ErrorActionPreference = 'Stop'

function Assert-Elevated {
    $principal = [Security.Principal.WindowsPrincipal]::new([Security.Principal.WindowsIdentity]::GetCurrent())
    if (-not $principal.IsInRole([Security.Principal.WindowsBuiltInRole]::Administrator)) {
        throw 'Run this script from an elevated (administrator) PowerShell.'
    }
}

function Install-MedlmService {
    $exe = Join-Path $PublishDir 'MeDlm.Server.exe'
    if (-not (Test-Path $exe)) {
        throw "No MeDlm.Server.exe in '$PublishDir': publish first (dotnet publish src/MeDlm.Server -c Release -r win-x64 --self-contained -o publish)."
    }
    if (Get-Service -Name $ServiceName -ErrorAction SilentlyContinue) {
        throw "Service '$ServiceName' already exists: run with -Action Remove first."
    }
    New-Item -ItemType Directory -Force -Path $InstallDir | Out-Null
    Copy-Item -Path (Join-Path $PublishDir '*') -Destination $InstallDir -Recurse -Force

    $binary = '"' + (Join-Path $InstallDir 'MeDlm.Server.exe') + '"'
    New-Service -Name $ServiceName -BinaryPathName $binary -DisplayName 'MeDlm Server' `
        -Description 'Edit-refined masked diffusion LM server (OpenAI-compatible HTTP API).' -StartupType Automatic | Out-Null
    # Run under the service's own virtual account rather than LocalSystem.
    & sc.exe config $ServiceName obj= $Account | Out-Null
    # Restart after 5 s on the first two failures, 30 s after that; reset the count after a day.
    & sc.exe failure $ServiceName reset= 86400 actions= restart/5000/restart/5000/restart/30000 | Out-Null
    # Start after the boot-critical services (network) are up.
    & sc.exe config $ServiceName start= delayed-auto | Out-Null

    # The virtual account reads the install folder (model included).
    $acl = Get-Acl $InstallDir
    $rule = [Security.AccessControl.FileSystemAccessRule]::new($Account, 'ReadAndExecute', 'ContainerInherit,ObjectInherit', 'None', 'Allow')
    $acl.AddAccessRule($rule)
    Set-Acl -Path $InstallDir -AclObject $acl

    Start-Service -Name $ServiceName
    Write-Host "Installed and started '$ServiceName' from $InstallDir. Readiness: http://127.0.0.1:8080/health/ready"
}

function Remove-MedlmService {
    $service = Get-Service -Name $ServiceName -ErrorAction SilentlyContinue
    if ($service) {
        if ($service.Status -ne 'Stopped') {
            Stop-Service -Name $ServiceName
            $service.WaitForStatus('Stopped', [TimeSpan]::FromSeconds(60))
        }
        & sc.exe delete $ServiceName | Out-Null
        Write-Host "Removed service '$ServiceName'."
    }
    else {
        Write-Host "No service '$ServiceName' to remove."
    }
    if ($DeleteFiles -and (Test-Path $InstallDir)) {
        Remove-Item -Recurse -Force $InstallDir
        Write-Host "Deleted $InstallDir."
    }
}

Assert-Elevated
switch ($Action) {
    'Install' { Install-MedlmService }
    'Remove' { Remove-MedlmService }
}
