"""Upload (through Django, or straight from the browser), list, download and delete files."""

from __future__ import annotations

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from gallery.models import Document, Upload


class UploadForm(forms.ModelForm):
    class Meta:
        model = Upload
        fields = ["file", "title"]


class DocumentForm(forms.ModelForm):
    class Meta:
        model = Document
        fields = ["file", "title"]


def index(request: HttpRequest) -> HttpResponse:
    """Show the upload form and every stored file with its size and URL."""
    form = UploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        form.save()
        return redirect("index")
    uploads = []
    for upload in Upload.objects.all():
        try:
            size = upload.file.size
        except FileNotFoundError:
            size = None
        uploads.append({"upload": upload, "size": size, "url": upload.file.url})
    return render(request, "gallery/index.html", {"form": form, "uploads": uploads})


@require_POST
def delete(request: HttpRequest, pk: int) -> HttpResponse:
    """Delete the file from the bucket and its row."""
    upload = get_object_or_404(Upload, pk=pk)
    upload.file.delete(save=False)
    upload.delete()
    return redirect("index")


def direct(request: HttpRequest) -> HttpResponse:
    """Show the direct-upload form (the browser sends the file to the bucket) and its files."""
    form = DocumentForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        form.save()
        return redirect("direct")
    documents = []
    for document in Document.objects.all():
        try:
            size = document.file.size
        except FileNotFoundError:
            size = None
        documents.append({"document": document, "size": size, "url": document.file.url})
    return render(request, "gallery/direct.html", {"form": form, "documents": documents})
