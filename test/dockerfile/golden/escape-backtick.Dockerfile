# escape=`

FROM mcr.microsoft.com/windows/servercore:ltsc2022
SHELL ["powershell", "-Command", "$ErrorActionPreference = 'Stop';"]
COPY testfile.txt c:\
RUN dir c:\ ; `
    Write-Host done
ENV PATH="C:\tools;C:\Windows\system32"
WORKDIR C:\app
ARG NAME="a`"b"
